// One process of the WebSocket benchmark (bench/websocket.ts), driven over IPC: the echo backend
// (the `ws` package), or Express + authProxy behind `upgradeHandler` in front of it. It reports
// its own CPU time on request, so the harness can divide by the frames that went through.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { WebSocketServer } from 'ws';
import { authProxy, upgradeHandler } from '../lib/index.js';

export type WsSubjectSpec =
  | { kind: 'backend' }
  | {
      kind: 'proxy';
      target: string;
      redisUrl: string;
      jwtKey: string;
      sessionCache: boolean;
      wsRecheckInterval: number;
    };

export type WsSubjectMessage =
  { type: 'ready'; url: string } | { type: 'usage'; cpuMicros: number; rssBytes: number };

function backend(): ReturnType<typeof createServer> {
  const server = createServer((_req, res) => {
    res.writeHead(426).end();
  });
  // Compression off on both sides: the figures are about relaying frames, not deflating them.
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 2 ** 20 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
  });
  return server;
}

function proxy(spec: Extract<WsSubjectSpec, { kind: 'proxy' }>): ReturnType<typeof createServer> {
  const app = express();
  app.use(
    '/ws',
    authProxy({
      target: spec.target,
      jwtKey: spec.jwtKey,
      redis: spec.redisUrl,
      sessionCache: spec.sessionCache,
      wsRecheckInterval: spec.wsRecheckInterval,
    }),
  );
  const server = createServer(app);
  server.on('upgrade', upgradeHandler(app));
  return server;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as WsSubjectSpec;
const server = spec.kind === 'backend' ? backend() : proxy(spec);
server.listen(0, '127.0.0.1', () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.send?.({ type: 'ready', url } satisfies WsSubjectMessage);
});
process.on('message', (message: { type?: string }) => {
  if (message.type !== 'usage') return;
  const cpu = process.cpuUsage();
  process.send?.({
    type: 'usage',
    cpuMicros: cpu.user + cpu.system,
    rssBytes: process.memoryUsage.rss(),
  } satisfies WsSubjectMessage);
});
// The harness owns this process: when it goes, so do we.
process.once('disconnect', () => process.exit(0));
