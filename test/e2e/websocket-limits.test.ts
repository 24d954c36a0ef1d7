import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { WebSocket } from 'ws';
import { MemorySessionStore } from '../../lib/index.js';
import { close, listen } from '../helpers/http.js';
import { startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';
import { mustOpen, nextMessage, startWsBackend } from '../helpers/ws.js';
import type { WsBackend } from '../helpers/ws.js';

const CREDENTIALS = Buffer.from('foo:bar').toString('base64');
const MiB = 1024 * 1024;

describe('a client that never completes its handshake', () => {
  let backend: WsBackend;
  let proxy: ProxyApp;

  before(async () => {
    backend = await startWsBackend();
    const store = new MemorySessionStore();
    await store.set('sid', { credentials: CREDENTIALS });
    proxy = await startProxyApp(
      { '/app': { target: backend.url, jwtKey: JWT_KEY, redis: store } },
      undefined,
      {
        upgrades: {},
        // Node's own limits on a request head apply to handshakes as to any request.
        serverOptions: {
          headersTimeout: 300,
          requestTimeout: 600,
          connectionsCheckingInterval: 50,
        },
      },
    );
  });
  after(async () => {
    await proxy.close();
    await backend.close();
  });

  it('is answered 408 and disconnected once the headers timeout passes', async () => {
    const sockets = await Promise.all(
      Array.from({ length: 20 }, () =>
        rawConnect(
          proxy.url,
          'GET /app/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n',
        ),
      ),
    );
    const answers = await Promise.all(sockets.map((socket) => readUntilClose(socket)));
    for (const answer of answers) assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.equal(backend.handshakes.length, 0);
  });

  it('is answered 431 and disconnected when its head keeps growing', async () => {
    const socket = await rawConnect(
      proxy.url,
      'GET /app/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Pad: ',
    );
    socket.on('error', () => undefined);
    const answer = readUntilClose(socket);
    // Past Node's maxHeaderSize (16 KiB), in one write: a server that closes a connection with
    // bytes still unread sends a reset, which can overtake its 431 (Node 24 does).
    socket.write('a'.repeat(20 * 1024));
    assert.match(await answer, /^HTTP\/1\.1 431 /);
    assert.equal(backend.handshakes.length, 0);
  });
});

describe('a flood of frames', () => {
  let child: ChildProcess;
  let proxyUrl: string;
  let backend: WsBackend | undefined;
  let client: WebSocket | undefined;
  let backendSide: WebSocket | undefined;

  before(async () => {
    // A backend that does nothing until told: the test pauses or floods its side.
    backend = await startWsBackend((ws) => {
      backendSide = ws;
    });
    child = fork(
      fileURLToPath(new URL('../fixtures/ws-proxy.mjs', import.meta.url)),
      [backend.url, JWT_KEY, CREDENTIALS],
      { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    const [message] = (await once(child, 'message')) as [{ port: number }];
    proxyUrl = `http://127.0.0.1:${message.port}`;
  });
  after(async () => {
    const exited = once(child, 'exit');
    child.disconnect();
    await exited;
    await backend?.close();
  });
  afterEach(() => {
    client?.terminate();
    backendSide?.terminate();
  });

  /** Bytes the proxy process holds in buffers (after a collection). */
  async function proxyBuffers(): Promise<number> {
    const reply = once(child, 'message') as Promise<[{ memory: NodeJS.MemoryUsage }]>;
    child.send('memory');
    const [{ memory }] = await reply;
    return memory.arrayBuffers;
  }

  /**
   * Pushes 64 MiB from one side while the other reads nothing, sampling the proxy's buffers until
   * the pushing side has stalled (its queue no longer moves) or has sent everything.
   */
  async function flood(
    sender: WebSocket,
    receiver: WebSocket,
  ): Promise<{ held: number; left: number }> {
    receiver.pause();
    const baseline = await proxyBuffers();
    const chunk = Buffer.alloc(MiB, 0x5a);
    for (let i = 0; i < 64; i++) sender.send(chunk);
    let held = 0;
    let previous = -1;
    let still = 0;
    while (still < 3 && sender.bufferedAmount > 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      held = Math.max(held, (await proxyBuffers()) - baseline);
      // Without backpressure the proxy would take everything it is sent: fail as soon as it does.
      assert.ok(held < 16 * MiB, `the proxy holds ${(held / MiB).toFixed(1)} MiB`);
      still = sender.bufferedAmount === previous ? still + 1 : 0;
      previous = sender.bufferedAmount;
    }
    return { held, left: sender.bufferedAmount };
  }

  it('from the client, toward a backend that does not read, stays bounded in the proxy', async () => {
    client = await mustOpen(`${proxyUrl}/flood`, { cookie: authCookie('sid') });
    assert.ok(backendSide !== undefined);
    const { left } = await flood(client, backendSide);
    // The flood stopped at the client: the proxy did not take it in.
    assert.ok(left > 16 * MiB, `only ${(left / MiB).toFixed(1)} MiB left at the client`);
    backendSide.resume();
    assert.equal((await nextMessage(backendSide)).data.length, MiB);
  });

  it('from the backend, toward a client that does not read, stays bounded in the proxy', async () => {
    client = await mustOpen(`${proxyUrl}/flood`, { cookie: authCookie('sid') });
    assert.ok(backendSide !== undefined);
    const { left } = await flood(backendSide, client);
    assert.ok(left > 16 * MiB, `only ${(left / MiB).toFixed(1)} MiB left at the backend`);
    client.resume();
    assert.equal((await nextMessage(client)).data.length, MiB);
  });
});

describe('a client that sends frames before the handshake is answered', () => {
  let child: ChildProcess;
  let proxyPort: number;
  const backend = createServer();
  // The backend takes each handshake and holds it, reading nothing, until the test answers 101.
  const pending: { socket: Duplex; received: number }[] = [];
  let arrived: (() => void) | undefined;

  before(async () => {
    backend.on('upgrade', (_req, socket: Duplex, head: Buffer) => {
      socket.pause();
      // Bytes that came with the head are handed over here, not on the socket.
      pending.push({ socket, received: head.length });
      arrived?.();
    });
    const url = await listen(backend);
    child = fork(
      fileURLToPath(new URL('../fixtures/ws-proxy.mjs', import.meta.url)),
      [url, JWT_KEY, CREDENTIALS],
      { execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    const [message] = (await once(child, 'message')) as [{ port: number }];
    proxyPort = message.port;
  });
  after(async () => {
    const exited = once(child, 'exit');
    child.disconnect();
    await exited;
    for (const { socket } of pending) socket.destroy();
    await close(backend);
  });

  async function proxyBuffers(): Promise<number> {
    const reply = once(child, 'message') as Promise<[{ memory: NodeJS.MemoryUsage }]>;
    child.send('memory');
    const [{ memory }] = await reply;
    return memory.arrayBuffers;
  }

  it('is held back by TCP while the backend has not answered, then delivered whole', async () => {
    const baseline = await proxyBuffers();
    const client = connect(proxyPort, '127.0.0.1');
    client.on('error', () => undefined);
    await once(client, 'connect');
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    client.write(
      'GET /early HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        `Cookie: ${authCookie('sid')}\r\n\r\n`,
    );
    // Bytes after the head, before any 101: the proxy must not take them all in meanwhile.
    const total = 32 * MiB;
    const chunk = Buffer.alloc(MiB, 0x5a);
    for (let i = 0; i < total / MiB; i++) client.write(chunk);
    await reached;
    const upstream = pending[0];
    assert.ok(upstream !== undefined);
    let previous = -1;
    let still = 0;
    while (still < 3) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const held = (await proxyBuffers()) - baseline;
      assert.ok(held < 8 * MiB, `the proxy holds ${(held / MiB).toFixed(1)} MiB`);
      still = client.writableLength === previous ? still + 1 : 0;
      previous = client.writableLength;
    }
    assert.ok(client.writableLength > 16 * MiB, 'the proxy read the early bytes in');

    // Once upgraded, every byte reaches the backend, in order, none lost while held back.
    const delivered = new Promise<void>((resolve) => {
      upstream.socket.on('data', (data: Buffer) => {
        upstream.received += data.length;
        if (upstream.received >= total) resolve();
      });
    });
    upstream.socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
    );
    upstream.socket.resume();
    await delivered;
    assert.equal(upstream.received, total);
    client.destroy();
  });
});

async function rawConnect(url: string, data: string): Promise<Socket> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(data);
  return socket;
}

async function readUntilClose(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // Not events.once: an error after the answer (a reset) must not hide what was received.
  await new Promise((resolve) => socket.once('close', resolve));
  return Buffer.concat(chunks).toString();
}
