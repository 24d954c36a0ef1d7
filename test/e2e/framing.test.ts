// HTTP/1.1 framing through the proxy, on raw sockets: pipelining, conflicting length headers,
// obs-fold and bare LF, and the one promise that matters most on a shared upstream connection:
// every user gets their own answer, never someone else's.
import assert from 'node:assert/strict';
import { Agent, createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { close, listen } from '../helpers/http.js';
import { startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { bytes, errorCode, exchange, openSocket, ResponseReader } from '../helpers/raw-http.js';
import type { RawResponse } from '../helpers/raw-http.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { cookieValue, JWT_KEY, sign } from '../helpers/tokens.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const RUNS = Number(process.env.FUZZ_RUNS ?? 0);

const USERS = {
  alice: Buffer.from('alice:wonderland').toString('base64'),
  bob: Buffer.from('bob:builder').toString('base64'),
} as const;
type User = keyof typeof USERS;
const cookieOf = (user: User): string => `Authorization=${cookieValue(sign(`${user}-sid`))}`;

/** What the backend saw of one request. */
interface Received {
  url: string;
  method: string;
  authorization: string | undefined;
  id: string | undefined;
  body: string;
  remotePort: number;
  headers: IncomingHttpHeaders;
}

/**
 * A backend that answers in the ways that make keep-alive framing hard (204, 304, HEAD, 1xx,
 * chunked, large, early answers, Connection: close), each chosen by the request's `x-answer`,
 * and always says whose request it answers in `x-echo-id` / `x-echo-auth`.
 */
function answer(req: IncomingMessage, res: ServerResponse, record: Received): void {
  res.setHeader('x-echo-id', record.id ?? '');
  res.setHeader('x-echo-auth', record.authorization ?? '');
  const json = JSON.stringify(record);
  switch (req.headers['x-answer']) {
    case 'empty':
      res.writeHead(204).end();
      return;
    case 'not-modified':
      res.writeHead(304, { etag: '"x"' }).end();
      return;
    case 'hints':
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.end(json);
      return;
    case 'chunked':
      res.write(json.slice(0, 10));
      setImmediate(() => res.end(json.slice(10)));
      return;
    case 'big':
      res.end(`${json}\n${'b'.repeat(100_000)}`);
      return;
    case 'close':
      res.setHeader('connection', 'close');
      res.end(json);
      return;
    default:
      res.setHeader('content-length', Buffer.byteLength(json));
      res.end(json);
  }
}

let redisServer: RedisServer;
let redis: Redis;
let backend: Server;
let backendUrl: string;
let received: Received[] = [];
let app: ProxyApp;
let port: number;
const oneSocket = new Agent({ keepAlive: true, maxSockets: 1 });

before(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  for (const [user, credentials] of Object.entries(USERS)) {
    await redis.set(`${user}-sid`, JSON.stringify({ credentials }));
  }
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const record = (): Received => ({
      url: req.url ?? '',
      method: req.method ?? '',
      authorization: req.headers.authorization,
      id: req.headers['x-req-id'] as string | undefined,
      body: Buffer.concat(chunks).toString('latin1'),
      remotePort: req.socket.remotePort ?? 0,
      headers: req.headers,
    });
    if (req.headers['x-answer'] === 'early') {
      // Answers before reading the body: the rest is discarded by Node, not read as a request.
      const seen = record();
      received.push(seen);
      answer(req, res, seen);
      req.resume();
      return;
    }
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen = record();
      received.push(seen);
      answer(req, res, seen);
    });
  });
  backendUrl = await listen(backend);
  const options = { target: `${backendUrl}/remote.php`, jwtKey: JWT_KEY, redis: redisServer.url };
  app = await startProxyApp({
    '/dav': options,
    // Every request of every user over one upstream connection.
    '/one': { ...options, proxy: { agent: oneSocket } },
  });
  port = Number(new URL(app.url).port);
});

after(async () => {
  await app.close();
  oneSocket.destroy();
  await close(backend);
  redis.disconnect();
  await redisServer.stop();
});

beforeEach(() => {
  received = [];
});

interface Req {
  method?: string;
  path: string;
  user?: User;
  headers?: string[];
  body?: string;
  chunked?: boolean;
}

/** Serializes a request; `chunked` sends the body as two chunks. */
function http(req: Req): string {
  const lines = [`${req.method ?? 'GET'} ${req.path} HTTP/1.1`, 'Host: proxy.test'];
  if (req.user !== undefined) lines.push(`Cookie: ${cookieOf(req.user)}`);
  lines.push(...(req.headers ?? []));
  let body = '';
  if (req.body !== undefined && req.chunked === true) {
    lines.push('Transfer-Encoding: chunked');
    const half = Math.floor(req.body.length / 2);
    const chunk = (text: string): string =>
      text === '' ? '' : `${text.length.toString(16)}\r\n${text}\r\n`;
    body = `${chunk(req.body.slice(0, half))}${chunk(req.body.slice(half))}0\r\n\r\n`;
  } else if (req.body !== undefined) {
    lines.push(`Content-Length: ${req.body.length}`);
    body = req.body;
  }
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

function json(response: RawResponse): Received {
  return JSON.parse(response.body.toString('latin1').split('\n', 1)[0] ?? '') as Received;
}

// A request that, if any parser took it out of a body, would reach the backend with credentials.
const SMUGGLED =
  `GET /dav/smuggled HTTP/1.1\r\nHost: proxy.test\r\nCookie: ${cookieOf('alice')}\r\n\r\n` +
  'GET /remote.php/smuggled HTTP/1.1\r\nHost: backend.test\r\n\r\n';

describe('pipelining', () => {
  it('answers pipelined requests of two users in order, each with its own credentials', async () => {
    const requests: Req[] = [
      { path: '/dav/1', user: 'alice', headers: ['x-answer: chunked'] },
      { path: '/dav/2', user: 'bob' },
      { method: 'POST', path: '/dav/3', user: 'alice', body: 'hello' },
      { method: 'HEAD', path: '/dav/4', user: 'bob' },
      { method: 'PUT', path: '/dav/5', user: 'bob', body: 'chunky body', chunked: true },
      { path: '/dav/6', user: 'alice', headers: ['x-answer: empty'] },
      { path: '/dav/7', user: 'bob', headers: ['Connection: close'] },
    ];
    const { responses, closed } = await exchange(port, bytes(requests.map(http).join('')), {
      methods: requests.map((r) => r.method ?? 'GET'),
    });
    assert.equal(closed, true, 'the server closed after the Connection: close request');
    assert.deepEqual(
      responses.map((r) => [r.status, r.headers.get('x-echo-auth')?.[0]]),
      requests.map((r) => [
        r.headers?.includes('x-answer: empty') === true ? 204 : 200,
        `Basic ${USERS[r.user ?? 'alice']}`,
      ]),
    );
    assert.deepEqual(
      received.map((r) => [r.url, r.body]),
      requests.map((r) => [r.path.replace('/dav', '/remote.php'), r.body ?? '']),
    );
  });

  for (const chunked of [false, true]) {
    it(`never reads a refused request's ${chunked ? 'chunked' : 'Content-Length'} body as a request`, async () => {
      const requests: Req[] = [
        { method: 'POST', path: '/dav/refused', body: SMUGGLED, chunked },
        { method: 'POST', path: '/dav/../escape', user: 'alice', body: SMUGGLED, chunked },
        { path: '/dav/after', user: 'bob' },
      ];
      const { responses } = await exchange(port, bytes(requests.map(http).join('')), {
        responses: 3,
      });
      assert.deepEqual(
        responses.map((r) => [r.status, errorCode(r) ?? r.headers.get('x-echo-auth')?.[0]]),
        [
          [401, 'ERR_TOKEN_MISSING'],
          [400, 'ERR_PATH_INVALID'],
          [200, `Basic ${USERS.bob}`],
        ],
      );
      assert.deepEqual(
        received.map((r) => r.url),
        ['/remote.php/after'],
      );
    });
  }

  it('forwards a whole body the backend did not wait for, and the next request intact', async () => {
    const body = `${SMUGGLED}${'x'.repeat(200_000)}`;
    const requests: Req[] = [
      { method: 'POST', path: '/dav/early', user: 'alice', headers: ['x-answer: early'], body },
      { path: '/dav/next', user: 'bob' },
    ];
    const { responses } = await exchange(port, bytes(requests.map(http).join('')), {
      responses: 2,
    });
    assert.deepEqual(
      responses.map((r) => [r.status, r.headers.get('x-echo-auth')?.[0]]),
      [
        [200, `Basic ${USERS.alice}`],
        [200, `Basic ${USERS.bob}`],
      ],
    );
    assert.deepEqual(
      received.map((r) => r.url),
      ['/remote.php/early', '/remote.php/next'],
    );
  });

  it('forwards an h2c upgrade request as a plain request, without its upgrade headers', async () => {
    const request = http({
      path: '/dav/h2c',
      user: 'alice',
      headers: [
        'Connection: Upgrade, HTTP2-Settings, close',
        'Upgrade: h2c',
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
      ],
    });
    const { responses } = await exchange(port, bytes(request));
    assert.deepEqual(
      responses.map((r) => r.status),
      [200],
    );
    assert.equal(received.length, 1);
    assert.equal(received[0]?.headers.upgrade, undefined);
    assert.equal(received[0]?.headers['http2-settings'], undefined);
  });
});

describe('conflicting or malformed framing', () => {
  const post = (headers: string, body: string): string =>
    `POST /dav/framed HTTP/1.1\r\nHost: proxy.test\r\nCookie: ${cookieOf('alice')}\r\n${headers}\r\n${body}`;
  const len = SMUGGLED.length;
  // Each is refused by Node's parser before any middleware runs: 400, connection closed.
  const refused: [string, string][] = [
    [
      'Content-Length and Transfer-Encoding',
      post(`Content-Length: 5\r\nTransfer-Encoding: chunked\r\n`, `0\r\n\r\n${SMUGGLED}`),
    ],
    [
      'Transfer-Encoding and Content-Length',
      post(`Transfer-Encoding: chunked\r\nContent-Length: ${len + 5}\r\n`, `0\r\n\r\n${SMUGGLED}`),
    ],
    [
      'two different Content-Lengths',
      post(`Content-Length: 0\r\nContent-Length: ${len}\r\n`, SMUGGLED),
    ],
    [
      'two equal Content-Lengths',
      post(`Content-Length: ${len}\r\nContent-Length: ${len}\r\n`, SMUGGLED),
    ],
    ['a Content-Length list', post(`Content-Length: ${len}, ${len}\r\n`, SMUGGLED)],
    ['a signed Content-Length', post(`Content-Length: +${len}\r\n`, SMUGGLED)],
    ['a hexadecimal Content-Length', post('Content-Length: 0x10\r\n', SMUGGLED)],
    [
      'chunked, then identity',
      post('Transfer-Encoding: chunked, identity\r\n', `0\r\n\r\n${SMUGGLED}`),
    ],
    ['xchunked', post('Transfer-Encoding: xchunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
    ['gzip without chunked', post('Transfer-Encoding: gzip\r\n', SMUGGLED)],
    [
      'Transfer-Encoding twice',
      post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUGGLED}`),
    ],
    ['a space before the colon', post('Transfer-Encoding : chunked\r\n', `0\r\n\r\n${SMUGGLED}`)],
    [
      'an obs-fold Transfer-Encoding',
      post('Transfer-Encoding:\r\n chunked\r\n', `0\r\n\r\n${SMUGGLED}`),
    ],
    [
      'an obs-fold on another header',
      post(`X-Long: a\r\n b\r\nContent-Length: ${len}\r\n`, SMUGGLED),
    ],
    [
      'a vertical tab before chunked',
      post('Transfer-Encoding: \x0bchunked\r\n', `0\r\n\r\n${SMUGGLED}`),
    ],
    [
      'a chunk size that overflows',
      post('Transfer-Encoding: chunked\r\n', `fffffffffffffffff1\r\n${SMUGGLED}\r\n0\r\n\r\n`),
    ],
    [
      'a chunk longer than its size',
      post('Transfer-Encoding: chunked\r\n', `3\r\nabcd\r\n0\r\n\r\n${SMUGGLED}`),
    ],
    [
      'a bare LF inside the chunked body',
      post('Transfer-Encoding: chunked\r\n', `3\nabc\r\n0\r\n\r\n${SMUGGLED}`),
    ],
    [
      'bare LF line endings',
      `POST /dav/framed HTTP/1.1\nHost: proxy.test\nCookie: ${cookieOf('alice')}\nContent-Length: ${len}\n\n${SMUGGLED}`,
    ],
    [
      'a bare CR',
      `POST /dav/framed HTTP/1.1\rHost: proxy.test\r\nContent-Length: ${len}\r\n\r\n${SMUGGLED}`,
    ],
    ['a NUL in a header', post(`X-Nul: a\x00b\r\nContent-Length: ${len}\r\n`, SMUGGLED)],
  ];
  for (const [name, request] of refused) {
    it(`refuses ${name} with 400 and closes, calling no backend`, async () => {
      const { responses, closed } = await exchange(port, bytes(request));
      assert.deepEqual(
        responses.map((r) => r.status),
        [400],
      );
      assert.equal(closed, true);
      assert.deepEqual(received, []);
    });
  }

  // Unusual but unambiguous: each is one request whose body reaches the backend as sent.
  const accepted: [string, string, string][] = [
    [
      'identity, then chunked',
      post('Transfer-Encoding: identity, chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'),
      'hello',
    ],
    [
      'CHUNKED in capitals',
      post('Transfer-Encoding: CHUNKED\r\n', '5\r\nhello\r\n0\r\n\r\n'),
      'hello',
    ],
    [
      'chunk extensions',
      post('Transfer-Encoding: chunked\r\n', '5;ext="a;b"\r\nhello\r\n0\r\n\r\n'),
      'hello',
    ],
    [
      'trailers',
      post('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n'),
      'hello',
    ],
    ['a Content-Length with leading zeros', post('Content-Length: 005\r\n', 'hello'), 'hello'],
    [
      'a GET with a body',
      `GET /dav/framed HTTP/1.1\r\nHost: proxy.test\r\nCookie: ${cookieOf('alice')}\r\nContent-Length: ${len}\r\n\r\n${SMUGGLED}`,
      SMUGGLED,
    ],
    [
      'HTTP/1.0 with chunked',
      `POST /dav/framed HTTP/1.0\r\nHost: proxy.test\r\nCookie: ${cookieOf('alice')}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      'hello',
    ],
    [
      'Expect: 100-continue',
      post('Expect: 100-continue\r\nContent-Length: 5\r\n', 'hello'),
      'hello',
    ],
  ];
  for (const [name, request, body] of accepted) {
    it(`proxies ${name} as one request with its body`, async () => {
      const http10 = request.includes('HTTP/1.0');
      // HTTP/1.0 ends the connection after the answer: nothing may follow the request.
      const next = http10 ? '' : http({ path: '/dav/next', user: 'bob' });
      const { responses } = await exchange(port, bytes(`${request}${next}`), {
        methods: ['POST', 'GET'],
        ...(http10 ? {} : { responses: 2 }),
      });
      assert.equal(responses[0]?.status, 200);
      const first = received[0];
      assert.equal(first?.authorization, `Basic ${USERS.alice}`);
      assert.equal(first.body, body);
      // What follows the body is the next request, answered on its own (HTTP/1.0 closes).
      assert.deepEqual(
        responses.map((r) => r.status),
        http10 ? [200] : [200, 200],
      );
      assert.deepEqual(
        received.map((r) => r.url),
        http10 ? ['/remote.php/framed'] : ['/remote.php/framed', '/remote.php/next'],
      );
    });
  }
});

/** A kept-alive client connection that pipelines requests and matches answers to them. */
class Client {
  readonly #reader = new ResponseReader();
  readonly #waiting: ((response: RawResponse) => void)[] = [];
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk);
    });
    this.#reader.onResponse = (response) => this.#waiting.shift()?.(response);
  }

  send(requests: Req[]): Promise<RawResponse[]> {
    const answers = requests.map((r) => {
      this.#reader.expect(r.method ?? 'GET');
      return new Promise<RawResponse>((resolve) => this.#waiting.push(resolve));
    });
    this.socket.write(bytes(requests.map(http).join('')));
    return Promise.all(answers);
  }
}

describe('a shared upstream connection', () => {
  type Kind = 'valid' | 'no-cookie' | 'expired' | 'escape';
  const step = fc.record({
    mount: fc.constantFrom('/dav', '/one'),
    method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE'),
    answer: fc.constantFrom(
      'json',
      'json',
      'empty',
      'not-modified',
      'hints',
      'chunked',
      'big',
      'close',
      'early',
    ),
    body: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 70_000 }) },
    ),
    chunked: fc.boolean(),
    kind: fc.constantFrom<Kind>(
      'valid',
      'valid',
      'valid',
      'valid',
      'no-cookie',
      'expired',
      'escape',
    ),
  });
  // Each round, both users send one to three pipelined requests at the same time.
  const script = fc.array(
    fc.record({
      alice: fc.array(step, { minLength: 1, maxLength: 3 }),
      bob: fc.array(step, { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 15, maxLength: 30 },
  );

  it('always answers each user with their own response, whatever came before', async () => {
    const portsByUser: Record<User, Set<number>> = { alice: new Set(), bob: new Set() };
    let sequence = 0;
    await fc.assert(
      fc.asyncProperty(script, async (rounds) => {
        const clients = {
          alice: new Client(await openSocket(port)),
          bob: new Client(await openSocket(port)),
        };
        try {
          for (const round of rounds) {
            await Promise.all(
              (['alice', 'bob'] as const).map(async (user) => {
                const requests = round[user].map((s) => {
                  const id = `${user}-${++sequence}`;
                  const hasBody = s.body > 0 && s.method !== 'GET' && s.method !== 'HEAD';
                  const req: Req = {
                    method: s.method,
                    path: `${s.mount}/${s.kind === 'escape' ? '..' : 'x'}/${id}`,
                    headers: [`x-req-id: ${id}`, `x-answer: ${s.answer}`],
                    ...(hasBody
                      ? {
                          body: id.padEnd(s.body, '.'),
                          chunked: s.chunked && s.method !== 'DELETE',
                        }
                      : {}),
                  };
                  if (s.kind === 'valid') req.user = user;
                  if (s.kind === 'expired') {
                    req.headers?.push(
                      `Cookie: Authorization=${cookieValue(sign(`${user}-sid`, { expiresIn: -60 }))}`,
                    );
                  }
                  return { id, step: s, req };
                });
                const responses = await clients[user].send(requests.map((r) => r.req));
                requests.forEach(({ id, step: s, req }, i) => {
                  const response = responses[i] as RawResponse;
                  if (s.kind !== 'valid') {
                    assert.equal(response.status, s.kind === 'escape' ? 400 : 401, id);
                    return;
                  }
                  assert.equal(
                    response.headers.get('x-echo-id')?.[0],
                    id,
                    'the answer to this request',
                  );
                  assert.equal(response.headers.get('x-echo-auth')?.[0], `Basic ${USERS[user]}`);
                  const expectedStatus =
                    { empty: 204, 'not-modified': 304 }[s.answer as string] ?? 200;
                  assert.equal(response.status, expectedStatus, id);
                  if (req.method !== 'HEAD' && expectedStatus === 200) {
                    const echoed = json(response);
                    assert.equal(echoed.id, id);
                    assert.equal(echoed.authorization, `Basic ${USERS[user]}`);
                    if (s.answer !== 'early') assert.equal(echoed.body, req.body ?? '');
                  }
                });
              }),
            );
          }
        } finally {
          clients.alice.socket.destroy();
          clients.bob.socket.destroy();
        }
        for (const r of received) {
          const user = r.id?.split('-')[0] as User | undefined;
          if (user !== undefined) portsByUser[user].add(r.remotePort);
        }
      }),
      {
        numRuns: RUNS > 0 ? Math.max(1, Math.floor(RUNS / 200)) : 3,
        seed: SEED,
        includeErrorInReport: true,
      },
    );
    const shared = [...portsByUser.alice].filter((p) => portsByUser.bob.has(p));
    assert.ok(
      shared.length > 0,
      'some upstream connection carried both users (the test saw sharing)',
    );
  });
});
