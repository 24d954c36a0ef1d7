import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { close, listen } from './http.js';

/** What the backend saw of one request. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
  remotePort: number;
}

export interface Backend {
  url: string;
  seen: Seen[];
  server: Server;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

/** Echoes what it received as JSON, after reading the whole body. */
const echo: Handler = (_req, res, seen) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(seen));
};

/** A real HTTP backend on port 0 that records every request it receives. */
export async function startBackend(handler: Handler = echo): Promise<Backend> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      const record: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodyBytes,
        bodySha256: hash.digest('hex'),
        remotePort: req.socket.remotePort ?? 0,
      };
      seen.push(record);
      handler(req, res, record);
    });
  });
  const url = await listen(server);
  return { url, seen, server, close: () => close(server) };
}
