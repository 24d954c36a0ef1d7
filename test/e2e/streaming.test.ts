import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { MemorySessionStore } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend, Seen } from '../helpers/backend.js';
import { request } from '../helpers/http.js';
import { startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** Bytes produced on demand, never held at once; `produced` tells how far the producer got. */
function generated(totalBytes: number): Readable & { readonly produced: number } {
  let left = totalBytes;
  let produced = 0;
  const stream = new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      produced += chunk.length;
      this.push(chunk);
    },
  });
  return Object.defineProperty(stream, 'produced', { get: () => produced }) as Readable & {
    readonly produced: number;
  };
}

function sha256Of(totalBytes: number): string {
  const hash = createHash('sha256');
  for (let left = totalBytes; left > 0; left -= CHUNK.length) {
    hash.update(left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left));
  }
  return hash.digest('hex');
}

/**
 * Watches one transfer: `window` is the most bytes ever produced but not yet consumed, that is
 * everything the chain (its streams and the sockets between) held at once. A proxy that buffers
 * the body holds the whole of it. Unlike sampling `process.memoryUsage()`, this does not depend on
 * when V8 collects the Buffers already forwarded: Node 24 lets up to 64 MiB of them wait for a
 * mark-compact, Node 20 and 22 collect them early (README, "Node versions").
 */
function transferMeter(producer: { readonly produced: number }): {
  consumed(bytes: number): void;
  readonly window: number;
} {
  let consumed = 0;
  let window = 0;
  return {
    consumed(bytes) {
      consumed += bytes;
      window = Math.max(window, producer.produced - consumed);
    },
    get window() {
      return window;
    },
  };
}

/**
 * Makes `stream` a reader slower than the producer: after each chunk it waits a turn of the event
 * loop, which the producer and the proxy (same process) get to use. Only with a slow reader
 * does a proxy that ignores backpressure pile data up.
 */
function readSlowly(stream: Readable): void {
  stream.on('data', () => {
    stream.pause();
    setImmediate(() => stream.resume());
  });
}

/** Measured for 100 MB on Node 20, 22 and 24: under 11 MiB in flight, kernel buffers included. */
function assertFlat(meter: { window: number }): void {
  assert.ok(meter.window < 32 * MiB, `${(meter.window / MiB).toFixed(1)} MiB in flight at once`);
}

let backend: Backend;
let download: (Readable & { readonly produced: number }) | undefined;
let proxy: ProxyApp;
const store = new MemorySessionStore();

before(async () => {
  await store.set('sid', { credentials: Buffer.from('foo:bar').toString('base64') });
  backend = await startBackend((req, res, seen) => {
    if (req.url?.startsWith('/download/')) {
      const bytes = Number(req.url.slice('/download/'.length));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      download = generated(bytes);
      download.pipe(res);
    } else {
      res.end(JSON.stringify(seen));
    }
  });
  proxy = await startProxyApp({ '/': { target: backend.url, jwtKey: JWT_KEY, redis: store } });
});
after(async () => {
  await proxy.close();
  await backend.close();
});

describe('streaming', () => {
  it('streams a 100 MB upload with flat memory', async () => {
    const size = 100 * MiB;
    const upload = generated(size);
    const meter = transferMeter(upload);
    let producedAtFirstByte = -1;
    backend.server.once('request', (req: IncomingMessage) => {
      req.once('data', () => {
        producedAtFirstByte = upload.produced;
      });
      req.on('data', (chunk: Buffer) => {
        meter.consumed(chunk.length);
      });
      readSlowly(req);
    });
    const reply = await request(`${proxy.url}/upload`, {
      method: 'PUT',
      headers: { cookie: authCookie('sid'), 'content-length': String(size) },
      body: upload,
    });
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body) as Seen;
    assert.equal(seen.bodyBytes, size);
    assert.equal(seen.bodySha256, sha256Of(size));
    // Streaming means the backend hears the first bytes long before the client has sent them all.
    assert.ok(producedAtFirstByte > 0 && producedAtFirstByte < size / 4, `${producedAtFirstByte}`);
    assertFlat(meter);
  });

  it('streams a 100 MB download with flat memory', async () => {
    const size = 100 * MiB;
    let received = 0;
    let producedAtFirstByte = -1;
    const hash = createHash('sha256');
    const meter = transferMeter({
      get produced() {
        return download?.produced ?? 0;
      },
    });
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${proxy.url}/download/${size}`, {
        headers: { cookie: authCookie('sid') },
        agent: false,
      });
      req.on('error', reject);
      req.on('response', (res) => {
        res.on('data', (chunk: Buffer) => {
          if (received === 0) producedAtFirstByte = download?.produced ?? -1;
          received += chunk.length;
          hash.update(chunk);
          meter.consumed(chunk.length);
        });
        readSlowly(res);
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.end();
    });
    assert.equal(received, size);
    assert.equal(hash.digest('hex'), sha256Of(size));
    assert.ok(producedAtFirstByte > 0 && producedAtFirstByte < size / 4, `${producedAtFirstByte}`);
    assertFlat(meter);
  });
});
