import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';
import { close, listen } from './http.js';

/** What a WebSocket backend saw of one handshake. */
export interface SeenHandshake {
  url: string;
  headers: IncomingHttpHeaders;
}

export interface WsBackend {
  url: string;
  server: Server;
  handshakes: SeenHandshake[];
  /** Plain HTTP requests it received (a handshake that lost its Upgrade would land here). */
  plainRequests: number;
  /** Server-side sockets currently open. */
  sockets: Set<WebSocket>;
  /** Resolves with the next server-side socket to open. */
  nextConnection(): Promise<WebSocket>;
  close(): Promise<void>;
}

type OnConnection = (ws: WebSocket, req: IncomingMessage) => void;

/** Sends every message back as it came (text as text, binary as binary). */
export const echo: OnConnection = (ws) => {
  ws.on('message', (data: RawData, isBinary: boolean) => {
    ws.send(data, { binary: isBinary });
  });
};

/** A real WebSocket backend (the `ws` package) on port 0 that records every handshake. */
export async function startWsBackend(
  onConnection: OnConnection = echo,
  options: {
    perMessageDeflate?: boolean;
    /** Answers plain HTTP requests; default a short text. */
    onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  } = {},
): Promise<WsBackend> {
  const handshakes: SeenHandshake[] = [];
  const sockets = new Set<WebSocket>();
  let waiting: ((ws: WebSocket) => void)[] = [];
  const server = createServer((req, res) => {
    backend.plainRequests++;
    if (options.onRequest === undefined) res.end('plain HTTP\n');
    else options.onRequest(req, res);
  });
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: options.perMessageDeflate ?? false,
  });
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    handshakes.push({ url: req.url ?? '', headers: req.headers });
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.once('close', () => sockets.delete(ws));
      onConnection(ws, req);
      const wakers = waiting;
      waiting = [];
      for (const wake of wakers) wake(ws);
    });
  });
  const url = await listen(server);
  const backend: WsBackend = {
    url,
    server,
    handshakes,
    plainRequests: 0,
    sockets,
    nextConnection: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
      }),
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await close(server);
    },
  };
  return backend;
}

export type Handshake =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'refused'; status: number; headers: IncomingHttpHeaders; body: string }
  | { kind: 'failed'; error: Error };

/** Opens a WebSocket and reports how the handshake ended. */
export function openWebSocket(
  url: string,
  headers: Record<string, string> = {},
  options: { perMessageDeflate?: boolean; protocols?: string[] } = {},
): Promise<Handshake> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), options.protocols ?? [], {
      headers,
      perMessageDeflate: options.perMessageDeflate ?? false,
    });
    ws.once('open', () => {
      resolve({ kind: 'open', ws });
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({
          kind: 'refused',
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        });
        ws.terminate();
      });
      res.on('error', () => undefined);
    });
    ws.once('error', (error) => {
      resolve({ kind: 'failed', error });
    });
  });
}

/** Opens a WebSocket that must succeed. */
export async function mustOpen(
  url: string,
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const handshake = await openWebSocket(url, headers);
  if (handshake.kind !== 'open') {
    throw new Error(
      `handshake ${handshake.kind}: ${JSON.stringify(handshake.kind === 'refused' ? handshake.status : handshake.error.message)}`,
    );
  }
  return handshake.ws;
}

/** The next message on a socket, as the data and whether it was binary. */
export async function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  const [data, isBinary] = (await once(ws, 'message')) as [RawData, boolean];
  const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
  return { data: buffer, isBinary };
}

/** Resolves with the close code and reason once the socket has closed. */
export async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('socket already closed');
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
}
