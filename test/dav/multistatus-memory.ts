// Memory and CPU of the proxy process while it streams a large multistatus, translated (/dav ->
// /remote.php) and not (rewriteUrls: false). The proxy runs in its own process; the backend and
// the client run here. Run: node --import tsx test/dav/multistatus-memory.ts
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { authProxy, MemorySessionStore } from '../../lib/index.js';
import { close, listen } from '../helpers/http.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';

const MiB = 1024 * 1024;

interface Sample {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  cpuMs: number;
}

async function proxyProcess(backend: string): Promise<void> {
  const store = new MemorySessionStore();
  await store.set('sid', { credentials: Buffer.from('foo:bar').toString('base64') });
  const app = express();
  const target = `${backend}/remote.php`;
  app.use('/dav', authProxy({ target, jwtKey: JWT_KEY, redis: store }));
  app.use('/raw', authProxy({ target, jwtKey: JWT_KEY, redis: store, rewriteUrls: false }));
  const server = createServer(app);
  const url = await listen(server);
  let peak: Sample = { rss: 0, heapUsed: 0, arrayBuffers: 0, cpuMs: 0 };
  let base = peak;
  let cpu = process.cpuUsage();
  const sample = (): Sample => {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, cpuMs: 0 };
  };
  const timer = setInterval(() => {
    const now = sample();
    peak = {
      rss: Math.max(peak.rss, now.rss),
      heapUsed: Math.max(peak.heapUsed, now.heapUsed),
      arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers),
      cpuMs: 0,
    };
  }, 5);
  process.on('message', (message) => {
    if (message === 'start') {
      base = sample();
      peak = base;
      cpu = process.cpuUsage();
      process.send?.('started');
    } else if (message === 'stop') {
      const used = process.cpuUsage(cpu);
      process.send?.({
        rss: peak.rss - base.rss,
        heapUsed: peak.heapUsed - base.heapUsed,
        arrayBuffers: peak.arrayBuffers - base.arrayBuffers,
        cpuMs: (used.user + used.system) / 1000,
      });
    } else if (message === 'exit') {
      clearInterval(timer);
      void close(server).then(() => process.exit(0));
    }
  });
  process.send?.(url);
}

function multistatus(bytes: number): Readable {
  let produced = 0;
  let i = 0;
  return new Readable({
    read() {
      if (produced === 0)
        this.push('<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:">');
      if (produced >= bytes) {
        this.push('</d:multistatus>\n');
        this.push(null);
        return;
      }
      let batch = '';
      for (let n = 0; n < 100; n++, i++) {
        batch += `<d:response><d:href>/remote.php/big/file-${i}.txt</d:href><d:propstat><d:prop><d:getcontentlength>${i}</d:getcontentlength></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n`;
      }
      produced += batch.length;
      this.push(batch);
    },
  });
}

function ask<T>(child: ChildProcess, message: string): Promise<T> {
  const answer = once(child, 'message') as Promise<[T]>;
  child.send(message);
  return answer.then(([value]) => value);
}

function fetchAll(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: 'PROPFIND',
      headers: { cookie: authCookie('sid'), depth: '1' },
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => {
        resolve(bytes);
      });
      res.on('error', reject);
    });
    req.end();
  });
}

if (process.argv[2] === 'proxy') {
  await proxyProcess(process.argv[3] ?? '');
} else {
  const backend = createServer((req, res) => {
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('bytes'));
    res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
    multistatus(size).pipe(res);
  });
  const backendUrl = await listen(backend);
  const child = fork(fileURLToPath(import.meta.url), ['proxy', backendUrl], {
    execArgv: ['--import', 'tsx'],
  });
  const [proxyUrl] = (await once(child, 'message')) as [string];
  const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  console.log(
    '| body | mount | bytes out | proxy CPU | peak RSS growth | peak heap growth | peak Buffer growth |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const size of [5 * MiB, 50 * MiB]) {
    for (const mount of ['/raw', '/dav', '/raw', '/dav']) {
      await ask(child, 'start');
      const bytes = await fetchAll(`${proxyUrl}${mount}/big?bytes=${size}`);
      const s = await ask<Sample>(child, 'stop');
      const label = mount === '/dav' ? '/dav (translated)' : '/raw (rewriteUrls: false)';
      console.log(
        `| ${mb(size)} | ${label} | ${mb(bytes)} | ${s.cpuMs.toFixed(0)} ms | ${mb(s.rss)} | ${mb(s.heapUsed)} | ${mb(s.arrayBuffers)} |`,
      );
    }
  }
  child.send('exit');
  await once(child, 'exit');
  await close(backend);
}
