import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { authProxy, MemorySessionStore } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend } from '../helpers/backend.js';
import { startDavServer } from '../helpers/dav-server.js';
import type { DavServer } from '../helpers/dav-server.js';
import { close, listen, request } from '../helpers/http.js';
import type { Reply, RequestOptions } from '../helpers/http.js';
import { startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { authCookie, JWT_KEY } from '../helpers/tokens.js';

const MiB = 1024 * 1024;
const store = new MemorySessionStore();
const cookie = authCookie('sid');

let dav: DavServer;
let fake: Backend;
let mail: Backend;
let proxy: ProxyApp;
/**
 * Index of the last response of the big multistatus the client has received, and who waits for
 * it: the backend produces the next stage only once the client has seen the previous one, so a
 * proxy that held the body back would never finish.
 */
let lastReceived = -1;
let waiting: { index: number; resume: () => void } | undefined;

function received(index: number): void {
  lastReceived = index;
  if (waiting !== undefined && lastReceived >= waiting.index) {
    waiting.resume();
    waiting = undefined;
  }
}

function receivedUpTo(index: number): Promise<void> {
  if (lastReceived >= index) return Promise.resolve();
  return new Promise((resume) => (waiting = { index, resume }));
}

/** A multistatus of `count` responses, produced in stages of `stage` responses. */
async function* stagedMultistatus(count: number, stage: number): AsyncGenerator<string> {
  yield '<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:">';
  for (let i = 0; i < count;) {
    let batch = '';
    for (const end = Math.min(count, i + 100); i < end; i++) {
      batch += `<d:response><d:href>/remote.php/big/file-${i}.txt</d:href><d:propstat><d:prop><d:getcontentlength>${i}</d:getcontentlength></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n`;
    }
    yield batch;
    if (i % stage === 0 && i < count) await receivedUpTo(i - 1);
  }
  yield '</d:multistatus>\n';
}

before(async () => {
  await store.set('sid', { credentials: Buffer.from('foo:bar').toString('base64') });
  dav = await startDavServer('foo', 'bar');
  mail = await startBackend();
  // A backend answering what a WebDAV server may: its own URLs in Location and Content-Location,
  // compressed or huge multistatus bodies.
  fake = await startBackend((req, res) => {
    const own = `http://${req.headers.host ?? ''}`;
    const url = req.url ?? '';
    if (url.endsWith('/created')) {
      res.writeHead(201, {
        location: `${own}${url.replace(/created$/, 'new%20file')}`,
        'content-location': url.replace(/created$/, 'new%20file'),
      });
      res.end();
    } else if (url.endsWith('/gzip')) {
      res.writeHead(207, {
        'content-type': 'application/xml; charset="utf-8"',
        'content-encoding': 'gzip',
      });
      res.end(
        gzipSync(
          `<D:multistatus xmlns:D="DAV:"><D:response><D:href>${url}</D:href></D:response></D:multistatus>`,
        ),
      );
    } else if (url.endsWith('/echo')) {
      // Its answer is not XML: the test reads what the backend received from `fake.seen`.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('received');
    } else if (url.startsWith('/remote.php/big')) {
      res.writeHead(207, { 'content-type': 'text/xml' });
      const count = Number(new URL(url, own).searchParams.get('count'));
      Readable.from(stagedMultistatus(count, 2000)).pipe(res);
    } else {
      res.writeHead(404).end();
    }
  });
  proxy = await startProxyApp({
    '/dav': { target: `${dav.url}/remote.php`, jwtKey: JWT_KEY, redis: store },
    '/remote.php': { target: `${dav.url}/remote.php`, jwtKey: JWT_KEY, redis: store },
    '/mail': { target: mail.url, jwtKey: JWT_KEY, redis: store },
    '/fake': { target: `${fake.url}/remote.php`, jwtKey: JWT_KEY, redis: store },
    '/same': { target: `${fake.url}/same`, jwtKey: JWT_KEY, redis: store },
    '/raw': { target: `${fake.url}/remote.php`, jwtKey: JWT_KEY, redis: store, rewriteUrls: false },
  });
});
after(async () => {
  await proxy.close();
  await Promise.all([dav.close(), fake.close(), mail.close()]);
});

function send(path: string, method: string, options: RequestOptions = {}): Promise<Reply> {
  return request(`${proxy.url}${path}`, {
    ...options,
    method,
    headers: { cookie, ...options.headers },
  });
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function hrefs(body: string): string[] {
  return [...body.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1] ?? '');
}

function lastSeen(method: string): DavServer['seen'][number] | undefined {
  return dav.seen.filter((s) => s.method === method).at(-1);
}

describe('WebDAV through a mount whose path differs from the target', () => {
  it('creates, lists, renames, copies and deletes with public URLs only', async () => {
    assert.equal((await send('/dav/docs/', 'MKCOL')).status, 201);
    assert.equal(lastSeen('MKCOL')?.url, '/remote.php/docs/');
    assert.equal((await send('/dav/docs/a%20b.txt', 'PUT', { body: 'hello' })).status, 201);

    const depth0 = await send('/dav/docs/', 'PROPFIND', { headers: { depth: '0' } });
    assert.equal(depth0.status, 207);
    assert.deepEqual(hrefs(depth0.body), [`${proxy.url}/dav/docs/`]);
    // The body changed length: it is streamed in chunks, without the backend's length.
    assert.equal(depth0.headers['content-length'], undefined);
    assert.equal(depth0.headers['transfer-encoding'], 'chunked');
    assert.equal(lastSeen('PROPFIND')?.headers['accept-encoding'], 'identity');

    const depth1 = await send('/dav/docs/', 'PROPFIND', { headers: { depth: '1' } });
    assert.deepEqual(hrefs(depth1.body).sort(), [
      `${proxy.url}/dav/docs/`,
      `${proxy.url}/dav/docs/a%20b.txt`,
    ]);
    assert.doesNotMatch(depth1.body, /remote\.php|127\.0\.0\.1:(?!\d+\/dav)/);

    const moved = await send('/dav/docs/a%20b.txt', 'MOVE', {
      headers: { destination: `${proxy.url}/dav/docs/renamed.txt` },
    });
    assert.equal(moved.status, 201);
    assert.equal(lastSeen('MOVE')?.headers.destination, `${dav.url}/remote.php/docs/renamed.txt`);
    const copied = await send('/dav/docs/renamed.txt', 'COPY', {
      headers: { destination: '/dav/docs/copy.txt' },
    });
    assert.equal(copied.status, 201);
    assert.equal(lastSeen('COPY')?.headers.destination, '/remote.php/docs/copy.txt');
    assert.equal((await send('/dav/docs/copy.txt', 'GET')).body, 'hello');
    assert.equal((await send('/dav/docs/copy.txt', 'DELETE')).status, 200);

    const listing = await send('/dav/docs/', 'PROPFIND', { headers: { depth: '1' } });
    assert.deepEqual(hrefs(listing.body).sort(), [
      `${proxy.url}/dav/docs/`,
      `${proxy.url}/dav/docs/renamed.txt`,
    ]);
    assert.equal((await send('/dav/docs/renamed.txt', 'GET')).body, 'hello');
  });

  it('moves a collection and sets properties with PROPPATCH', async () => {
    assert.equal((await send('/dav/album/', 'MKCOL')).status, 201);
    assert.equal((await send('/dav/album/x.txt', 'PUT', { body: 'x' })).status, 201);
    const moved = await send('/dav/album/', 'MOVE', {
      headers: { destination: `${proxy.url}/dav/photos/` },
    });
    assert.equal(moved.status, 201);
    assert.equal((await send('/dav/photos/x.txt', 'GET')).body, 'x');

    const patched = await send('/dav/photos/x.txt', 'PROPPATCH', {
      headers: { 'content-type': 'application/xml' },
      body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example"><D:set><D:prop><Z:colour>blue</Z:colour></D:prop></D:set></D:propertyupdate>`,
    });
    assert.equal(patched.status, 207);
    assert.deepEqual(hrefs(patched.body), [`${proxy.url}/dav/photos/x.txt`]);
    const found = await send('/dav/photos/x.txt', 'PROPFIND', {
      headers: { depth: '0', 'content-type': 'application/xml' },
      body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><Z:colour xmlns:Z="urn:example"/></D:prop></D:propfind>`,
    });
    assert.match(found.body, /blue/);
  });

  it('locks with public hrefs, translates the resource tags of If, and unlocks', async () => {
    assert.equal((await send('/dav/locked.txt', 'PUT', { body: 'v1' })).status, 201);
    const lock = await send('/dav/locked.txt', 'LOCK', {
      headers: { 'content-type': 'application/xml', timeout: 'Second-60' },
      body: `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>test</D:owner></D:lockinfo>`,
    });
    assert.equal(lock.status, 200);
    const token = String(lock.headers['lock-token']);
    assert.match(token, /^<?urn:uuid:/);
    assert.doesNotMatch(lock.body, /remote\.php/);
    assert.match(lock.body, new RegExp(`<D:lockroot><D:href>${proxy.url}/dav/`));

    const bare = token.replace(/^<|>$/g, '');
    const put = await send('/dav/locked.txt', 'PUT', {
      headers: { if: `<${proxy.url}/dav/locked.txt> (<${bare}>)` },
      body: 'v2',
    });
    assert.ok(put.status >= 200 && put.status < 300, `${put.status}`);
    assert.equal(lastSeen('PUT')?.headers.if, `<${dav.url}/remote.php/locked.txt> (<${bare}>)`);

    const unlock = await send('/dav/locked.txt', 'UNLOCK', {
      headers: { 'lock-token': `<${bare}>` },
    });
    assert.equal(unlock.status, 204);
    assert.equal((await send('/dav/locked.txt', 'GET')).body, 'v2');
  });

  it('refuses a Destination or If naming another mount or host, without calling the backend', async () => {
    assert.equal((await send('/dav/keep.txt', 'PUT', { body: 'k' })).status, 201);
    const before = dav.seen.length;
    const destinations = [
      `${proxy.url}/mail/stolen.txt`,
      'http://elsewhere.example/dav/x.txt',
      `${proxy.url}/dav/../mail/x.txt`,
      `${proxy.url}/dav/%2e%2e/mail/x.txt`,
      `${proxy.url}/dav/x.txt#frag`,
      'not a url',
      [`${proxy.url}/dav/a.txt`, `${proxy.url}/dav/b.txt`],
    ];
    for (const destination of destinations) {
      const reply = await send('/dav/keep.txt', 'MOVE', { headers: { destination } });
      assert.equal(reply.status, 400, String(destination));
      assert.equal(reply.body, '400 Bad Request: ERR_DESTINATION_INVALID\n');
    }
    for (const condition of [`<${proxy.url}/mail/x> (<urn:uuid:1>)`, '(<urn:uuid:1>']) {
      const reply = await send('/dav/keep.txt', 'PUT', { headers: { if: condition }, body: 'k' });
      assert.equal(reply.status, 400, condition);
      assert.equal(reply.body, '400 Bad Request: ERR_IF_HEADER_INVALID\n');
    }
    assert.equal(dav.seen.length, before);
    assert.equal(mail.seen.length, 0);
    assert.equal((await send('/dav/keep.txt', 'GET')).body, 'k');
  });

  it('translates the hrefs of a request body, as a CalDAV calendar-multiget lists them', async () => {
    const body = (own: string, path: string): string =>
      `<?xml version="1.0" encoding="utf-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <D:href>${path}/cal/a%20b.ics</D:href>
  <D:href>${own}${path}/cal/b&amp;c.ics</D:href>
  <D:href>mailto:alice@example.org</D:href>
  <D:href>http://elsewhere.example/~alice/</D:href>
  <D:href>relative.ics</D:href>
</C:calendar-multiget>`;
    const seen = fake.seen.length;
    const reply = await send('/fake/cal/echo', 'REPORT', {
      headers: { 'content-type': 'application/xml; charset=utf-8', depth: '1' },
      body: body(proxy.url, '/fake'),
    });
    assert.equal(reply.status, 200, reply.body);
    const got = fake.seen[seen];
    assert.equal(got?.url, '/remote.php/cal/echo');
    const translated = body(fake.url, '/remote.php');
    assert.equal(got.bodySha256, sha256(translated));
    // With its own length: servers read a DAV body by its Content-Length.
    assert.equal(got.headers['content-length'], String(Buffer.byteLength(translated)));
    assert.equal(got.headers['transfer-encoding'], undefined);

    // A body typed as something else than XML passes as it is.
    const other = await send('/fake/cal/echo', 'REPORT', {
      headers: { 'content-type': 'text/plain' },
      body: '/mail/not-xml',
    });
    assert.equal(other.status, 200, other.body);
    assert.equal(fake.seen.at(-1)?.bodySha256, sha256('/mail/not-xml'));

    // rewriteUrls: false leaves the body to the backend, byte for byte.
    const untouched = body(proxy.url, '/raw');
    const raw = await send('/raw/cal/echo', 'REPORT', {
      headers: { 'content-type': 'application/xml' },
      body: untouched,
    });
    assert.equal(raw.status, 200);
    assert.equal(fake.seen.at(-1)?.bodySha256, sha256(untouched));
    assert.equal(fake.seen.at(-1)?.headers['content-length'], String(Buffer.byteLength(untouched)));
  });

  it('refuses a request body with an href it cannot pass on, without calling the backend', async () => {
    const multiget = (href: string): string =>
      `<D:sync-collection xmlns:D="DAV:"><D:href>/fake/cal/ok.ics</D:href><D:href>${href}</D:href></D:sync-collection>`;
    const seen = fake.seen.length;
    const refused: [string, Record<string, string>, string][] = [
      ['other mount', {}, multiget('/mail/inbox')],
      ['other mount by URL', {}, multiget(`${proxy.url}/mail/inbox`)],
      ['climbing', {}, multiget('/fake/../mail/inbox')],
      ['encoded climb', {}, multiget('/fake/%2e%2e/mail/inbox')],
      ['relative climb', {}, multiget('../../mail/inbox')],
      ['network path', {}, multiget('//elsewhere.example/x')],
      ['not XML', {}, '<D:sync-collection xmlns:D="DAV:"><D:href>/fake/x</D:href>'],
      ['element in an href', {}, multiget('<D:x/>/mail/inbox')],
      ['not UTF-8', {}, Buffer.from([0x3c, 0x61, 0xff, 0x3e]).toString('latin1')],
      ['other charset', { 'content-type': 'text/xml; charset=iso-8859-1' }, multiget('/fake/x')],
      ['compressed', { 'content-encoding': 'gzip' }, multiget('/fake/x')],
    ];
    const tooLarge = await send('/fake/cal/echo', 'REPORT', {
      headers: { 'content-type': 'application/xml' },
      body: `<D:sync-collection xmlns:D="DAV:">${'<D:href>/fake/cal/an-event-of-a-long-calendar.ics</D:href>'.repeat(20_000)}</D:sync-collection>`,
    });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body, '413 Payload Too Large: ERR_BODY_TOO_LARGE\n');
    for (const [name, headers, body] of refused) {
      const reply = await send('/fake/cal/echo', 'REPORT', {
        headers: { 'content-type': 'application/xml', ...headers },
        body: name === 'not UTF-8' ? Buffer.from(body, 'latin1') : body,
      });
      assert.equal(reply.status, 400, name);
      assert.equal(reply.body, '400 Bad Request: ERR_BODY_HREF_INVALID\n', name);
    }
    assert.equal(fake.seen.length, seen);
    assert.equal(mail.seen.length, 0);
  });

  it('keeps a LOCK owner naming a page on another host, as macOS Finder sends it', async () => {
    assert.equal((await send('/dav/owned.txt', 'PUT', { body: 'o' })).status, 201);
    const lock = await send('/dav/owned.txt', 'LOCK', {
      headers: { 'content-type': 'text/xml; charset="utf-8"', timeout: 'Second-60' },
      body: `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>http://www.apple.com/webdav_fs/</D:href></D:owner></D:lockinfo>`,
    });
    assert.equal(lock.status, 200, lock.body);
    assert.match(lock.body, /DAV:">http:\/\/www\.apple\.com\/webdav_fs\/</);
    const token = String(lock.headers['lock-token']).replace(/^<|>$/g, '');
    const unlock = await send('/dav/owned.txt', 'UNLOCK', {
      headers: { 'lock-token': `<${token}>` },
    });
    assert.equal(unlock.status, 204);
  });

  it('leaves file contents alone: an XML file comes back byte for byte', async () => {
    const xml = `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:href>/remote.php/x</D:href></D:multistatus>`;
    const put = await send('/dav/stored.xml', 'PUT', {
      headers: { 'content-type': 'application/xml' },
      body: xml,
    });
    assert.equal(put.status, 201);
    const got = await send('/dav/stored.xml', 'GET');
    assert.equal(got.body, xml);
    assert.equal(got.headers['content-length'], String(xml.length));
  });

  it('translates Location and Content-Location, and hides the backend origin everywhere', async () => {
    const created = await send('/fake/dir/created', 'MKCOL');
    assert.equal(created.status, 201);
    assert.equal(created.headers.location, `${proxy.url}/fake/dir/new%20file`);
    assert.equal(created.headers['content-location'], '/fake/dir/new%20file');

    // Same path: nothing to translate but the origin, which would leak with changeOrigin.
    const same = await send('/same/dir/created', 'MKCOL');
    assert.equal(same.headers.location, `${proxy.url}/same/dir/new%20file`);
    assert.equal(same.headers['content-location'], '/same/dir/new%20file');

    // rewriteUrls: false: paths as the backend wrote them, its origin still replaced.
    const raw = await send('/raw/dir/created', 'MKCOL');
    assert.equal(raw.headers.location, `${proxy.url}/remote.php/dir/new%20file`);
    assert.equal(raw.headers['content-location'], '/remote.php/dir/new%20file');
  });

  it('translates the absolute hrefs of a same-path mount with changeOrigin', async () => {
    assert.equal((await send('/remote.php/same-dir/', 'MKCOL')).status, 201);
    const listing = await send('/remote.php/same-dir/', 'PROPFIND', { headers: { depth: '0' } });
    // webdav-server writes absolute URIs from the Host it received: the backend's.
    assert.deepEqual(hrefs(listing.body), [`${proxy.url}/remote.php/same-dir/`]);
  });

  it('behind a trusted reverse proxy, takes the host and scheme it forwards', async () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    const mount = authProxy({ target: `${dav.url}/remote.php`, jwtKey: JWT_KEY, redis: store });
    app.use('/dav', mount);
    const server = createServer(app);
    const url = await listen(server);
    try {
      const forwarded = {
        cookie,
        host: 'internal:3000',
        'x-forwarded-host': 'files.example.org',
        'x-forwarded-proto': 'https',
      };
      const made = await request(`${url}/dav/tp/`, { method: 'MKCOL', headers: forwarded });
      assert.equal(made.status, 201);
      const moved = await request(`${url}/dav/tp/`, {
        method: 'MOVE',
        headers: { ...forwarded, destination: 'https://files.example.org/dav/tp2/' },
      });
      assert.equal(moved.status, 201);
      const listing = await request(`${url}/dav/tp2/`, {
        method: 'PROPFIND',
        headers: { ...forwarded, depth: '0' },
      });
      assert.deepEqual(hrefs(listing.body), ['https://files.example.org/dav/tp2/']);
      // Without trust, the forwarded host is only a claim: the Host header decides.
      const untrusted = await send('/dav/tp2/', 'MOVE', {
        headers: {
          'x-forwarded-host': 'files.example.org',
          destination: 'https://files.example.org/dav/tp3/',
        },
      });
      assert.equal(untrusted.status, 400);
    } finally {
      await close(server);
      await mount.close();
    }
  });

  it('reads a compressed multistatus from a backend that ignores Accept-Encoding', async () => {
    const reply = await send('/fake/dir/gzip', 'PROPFIND', {
      headers: { 'accept-encoding': 'gzip' },
    });
    assert.equal(reply.status, 207);
    assert.equal(reply.headers['content-encoding'], undefined);
    assert.deepEqual(hrefs(reply.body), ['/fake/dir/gzip']);
    assert.equal(fake.seen.at(-1)?.headers['accept-encoding'], 'identity');
  });

  it('streams a 5 MB multistatus with bounded memory', async () => {
    const count = 32_000;
    const HREF = '<d:href>/fake/big/file-';
    let bytes = 0;
    let rewritten = 0;
    let tail = '';
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 5);
    try {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${proxy.url}/fake/big?count=${count}`, {
          method: 'PROPFIND',
          headers: { cookie, depth: '1' },
          agent: false,
        });
        req.on('error', reject);
        req.on('response', (res) => {
          assert.equal(res.statusCode, 207);
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            bytes += Buffer.byteLength(chunk);
            const text = tail + chunk;
            // Matches that end inside the carried tail were counted with the previous chunk.
            for (let at = text.indexOf(HREF); at >= 0; at = text.indexOf(HREF, at + 1)) {
              if (at + HREF.length > tail.length) rewritten++;
            }
            assert.doesNotMatch(text, /remote\.php/);
            const last = /.*file-(\d+)\.txt<\/d:href>/s.exec(text);
            if (last?.[1] !== undefined) received(Number(last[1]));
            tail = text.slice(-64);
          });
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.end();
      });
    } finally {
      clearInterval(timer);
    }
    assert.ok(bytes > 5 * MiB, `${bytes}`);
    assert.equal(rewritten, count);
    const growth = peak - base;
    assert.ok(growth < 32 * MiB, `buffers grew by ${(growth / MiB).toFixed(1)} MiB`);
  });
});
