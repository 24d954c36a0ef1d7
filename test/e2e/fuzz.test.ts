// Property-based tests of the whole chain on a real server: a real Express app with authProxy, a
// real recording backend and a real redis-server, fed with generated cookies, tokens, stored
// sessions and request targets written byte for byte on raw sockets. The properties are the
// product's promises; the oracle (test/helpers/fuzz-model.ts) is written from the rules, not
// from the code. Fixed seed by default; FUZZ_RUNS and FUZZ_SEED for long runs (README).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { ERROR_CODES, statusForCode } from '../../lib/index.js';
import type { ErrorCode } from '../../lib/index.js';
import { startBackend } from '../helpers/backend.js';
import type { Backend, Seen } from '../helpers/backend.js';
import {
  base64url,
  cookieValues,
  hmac,
  judgeToken,
  sameResourceForm,
  staysUnder,
} from '../helpers/fuzz-model.js';
import { recordingLogger, startProxyApp } from '../helpers/proxy-app.js';
import type { ProxyApp } from '../helpers/proxy-app.js';
import { bytes, errorCode, exchange } from '../helpers/raw-http.js';
import type { RawResponse } from '../helpers/raw-http.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisServer } from '../helpers/redis-server.js';
import {
  buildToken,
  encode,
  encodingSpec,
  isCanonical,
  plainToken,
  tokenExample,
  tokenSpec,
} from '../helpers/fuzz-tokens.js';
import type { EncodingSpec, TokenSpec } from '../helpers/fuzz-tokens.js';
import { JWT_KEY } from '../helpers/tokens.js';

function positiveInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

const RUNS = positiveInteger('FUZZ_RUNS');
const SEED = positiveInteger('FUZZ_SEED') ?? 20261127;

const MOUNT = '/dav';
const TARGET_PATH = '/remote.php';
const b64 = (text: string): string => Buffer.from(text).toString('base64');
/** The sessions every run can use; keys are sids, values the stored credentials. */
const SESSIONS = new Map<string, string>([
  ['alice-sid', b64('alice:wonderland')],
  ['bob-sid', b64('bob:builder')],
  // What a sid holding a lone surrogate becomes once UTF-8 encoded for Redis.
  ['\ufffd', b64('replacement:character')],
  ['sid with spaces/and?slashes', b64('odd:sid')],
]);
const ALL_CREDENTIALS = [...SESSIONS.values()];

let redisServer: RedisServer;
let redis: Redis;
let backend: Backend;
let app: ProxyApp;
let port: number;
const logger = recordingLogger();
const crashes: unknown[] = [];
const onCrash = (err: unknown): void => {
  crashes.push(err);
};

before(async () => {
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
  redisServer = await startRedis();
  redis = new Redis(redisServer.url);
  for (const [sid, credentials] of SESSIONS) {
    await redis.set(sid, JSON.stringify({ credentials }));
  }
  backend = await startBackend();
  app = await startProxyApp({
    [MOUNT]: {
      target: `${backend.url}${TARGET_PATH}`,
      jwtKey: JWT_KEY,
      redis: redisServer.url,
      logger,
    },
  });
  port = Number(new URL(app.url).port);
});

after(async () => {
  await app.close();
  await backend.close();
  redis.disconnect();
  await redisServer.stop();
  process.off('unhandledRejection', onCrash);
  process.off('uncaughtException', onCrash);
  assert.deepEqual(crashes, [], 'no unhandled rejection or uncaught exception');
});

type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

/**
 * Runs of one property: FUZZ_RUNS or the default, the fixed seed, and `examples` run first on
 * every seed (the findings of earlier reviews, so that they stay covered whatever the seed draws).
 */
function settings<T>(defaultRuns: number, examples: T[] = []): fc.Parameters<T> {
  return { numRuns: RUNS ?? defaultRuns, seed: SEED, includeErrorInReport: true, examples };
}

const BASE64: EncodingSpec = { encoding: 'base64', at: 0, char: 'A' };
const RAW: EncodingSpec = { encoding: 'raw', at: 0, char: 'A' };

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// Sending one request and collecting what every party saw of it

interface RawRequest {
  method: string;
  target: string;
  /** Header lines as [name, value], latin1 strings written byte for byte. */
  headers: [string, string][];
  body?: string;
}

interface Outcome {
  response: RawResponse;
  /** What the backend received for this request (normally zero or one). */
  reached: Seen[];
}

let sequence = 0;

async function send(request: RawRequest, secrets: string[]): Promise<Outcome> {
  const id = String(++sequence);
  const lines = [
    `${request.method} ${request.target} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    `x-fuzz-id: ${id}`,
    ...request.headers.map(([name, value]) => `${name}: ${value}`),
    ...(request.body === undefined ? [] : [`content-length: ${request.body.length}`]),
    'connection: close',
  ];
  const data = bytes(`${lines.join('\r\n')}\r\n\r\n${request.body ?? ''}`);
  const { responses } = await exchange(port, data, { methods: [request.method] });
  assert.equal(responses.length, 1, 'exactly one response, never a silently cut connection');
  const response = responses[0] as RawResponse;
  const seen = backend.seen.splice(0);
  for (const record of seen) {
    assert.equal(record.headers['x-fuzz-id'], id, 'the backend saw no request but this one');
  }
  assert.deepEqual(crashes, [], 'no unhandled rejection or uncaught exception');
  const logged = logger.lines.splice(0);
  for (const secret of secrets) {
    if (secret.length < 8) continue;
    for (const line of logged)
      assert.ok(!line.includes(secret), `log line leaks a secret: ${line}`);
  }
  return { response, reached: seen };
}

/**
 * Sends the same request twice: the second may be answered from the cache of verified claims,
 * which must decide exactly as the full path did (the generated times are far from any boundary).
 */
async function sendTwice(request: RawRequest, secrets: string[]): Promise<Outcome> {
  const first = await send(request, secrets);
  const again = await send(request, secrets);
  assert.deepEqual(
    [again.response.status, errorCode(again.response), again.reached.length],
    [first.response.status, errorCode(first.response), first.reached.length],
    'the same request gets the same answer (cache hit or miss)',
  );
  assert.equal(again.reached[0]?.headers.authorization, first.reached[0]?.headers.authorization);
  return first;
}

/** A refusal through the responder: a known code, the status of that code, allowed here. */
function assertRefusal(response: RawResponse, allowed: (code: ErrorCode) => boolean): void {
  const code = errorCode(response);
  assert.ok(code !== undefined, `a refusal names its code (status ${response.status})`);
  assert.ok((ERROR_CODES as readonly string[]).includes(code), `known code ${code}`);
  assert.equal(response.status, statusForCode(code as ErrorCode), `status of ${code}`);
  assert.ok(allowed(code as ErrorCode), `code ${code} is allowed here`);
}

const isTokenRefusal = (code: ErrorCode): boolean =>
  statusForCode(code) === 401 && code !== 'ERR_SESSION_NOT_FOUND';

/** What must hold of every request the backend received with a session's credentials. */
function assertForwardedFor(seen: Seen, sid: string): void {
  assert.equal(seen.headers.authorization, `Basic ${SESSIONS.get(sid) ?? '(no session)'}`);
  assert.equal(seen.headers['proxy-authorization'], undefined);
  const cookie = seen.headers.cookie;
  if (cookie !== undefined) {
    assert.deepEqual(cookieValues(cookie, 'Authorization'), [], 'auth cookie not forwarded');
  }
  assert.ok(staysUnder(seen.url, TARGET_PATH), `backend path ${seen.url} stays under the target`);
}

// ---------------------------------------------------------------------------------------------

describe('fuzz: the chain on a real server', () => {
  it('tokens: only a correctly signed, unexpired token with a string sid of an existing session passes', async () => {
    let reached = 0;
    await fc.assert(
      fc.asyncProperty(tokenSpec([...SESSIONS.keys()]), encodingSpec, async (spec, encodingOf) => {
        const now = nowSeconds();
        const token = buildToken(spec, now);
        const value = encode(token, encodingOf);
        // A token sent as it is is also a cookie value, trimmed of spaces and tabs (RFC 6265 5.2).
        const delivered =
          encodingOf.encoding === 'raw' ? token.replace(/^[ \t]+|[ \t]+$/g, '') : token;
        const verdict = judgeToken(delivered, JWT_KEY, now);
        const { response, reached: seen } = await sendTwice(
          {
            method: 'GET',
            target: `${MOUNT}/inbox`,
            headers: [['cookie', `Authorization=${value}`]],
          },
          [token, value, ...ALL_CREDENTIALS],
        );
        const session = verdict.valid && verdict.sid !== undefined && SESSIONS.has(verdict.sid);
        if (seen.length > 0) {
          reached++;
          assert.ok(session, 'the backend is reached only with a valid token and a session');
          assert.equal(seen.length, 1);
          const got = seen[0] as Seen;
          assertForwardedFor(got, verdict.sid as string);
          assert.equal(got.url, `${TARGET_PATH}/inbox`);
          assert.equal(got.headers.cookie, undefined, 'no cookie left to forward');
          assert.equal(response.status, 200);
          return;
        }
        // The only way past Node's 16 KiB header limit, and never a 5xx.
        if (response.status === 431) {
          assert.ok(value.length > 8192);
          return;
        }
        const claims = verdict.claims ?? {};
        const ordinary =
          session &&
          isCanonical(encodingOf) &&
          value.length <= 4096 &&
          typeof claims.exp === 'number' &&
          claims.exp <= now + 86_400 &&
          (claims.iat === undefined ||
            (typeof claims.iat === 'number' && claims.iat <= now && claims.iat > now - 86_400));
        assert.ok(!ordinary, `an ordinary valid token was refused: ${response.status}`);
        assertRefusal(
          response,
          (code) =>
            isTokenRefusal(code) || (code === 'ERR_SESSION_NOT_FOUND' && verdict.valid && !session),
        );
      }),
      settings<[TokenSpec, EncodingSpec]>(200, [
        [tokenExample({ exp: { text: '1e400' } }), BASE64],
        [tokenExample({ exp: { text: '1e400' }, sid: '"bob-sid"' }), RAW],
        [tokenExample({ nbf: { text: '-1e400' } }), BASE64],
        [tokenExample({ exp: { rel: 600, as: 'string' } }), BASE64],
        [tokenExample({ sid: '"\\ud800"' }), BASE64],
        [tokenExample({ sid: '7' }), BASE64],
        // Claims that are a JSON string holding an object (jsonwebtoken unwraps it with typ JWT).
        [tokenExample({ shape: 'string' }), BASE64],
        // Sent as it is, the space is the cookie's whitespace, not part of the token.
        [{ ...tokenExample({}), shape: 'leading-space' }, RAW],
      ]),
    );
    assert.ok(reached > 0, 'some generated tokens were valid and reached the backend');
  });

  it('cookie headers: any bytes, duplicates, several lines, sizes to 64 KiB', async () => {
    // Tokens by label: which session each opens, if any. Made per run so none expires.
    const SESSION_OF: Record<string, string | undefined> = {
      alice: 'alice-sid',
      alice2: 'alice-sid',
      bob: 'bob-sid',
      expired: undefined,
      wrongKey: undefined,
      garbage: undefined,
      empty: undefined,
    };
    const tokensAt = (now: number): Record<string, string> => ({
      alice: plainToken('alice-sid', now),
      alice2: plainToken('alice-sid', now, ',"jti":"second"'),
      bob: plainToken('bob-sid', now),
      expired: (() => {
        const h = base64url('{"alg":"HS512"}');
        const p = base64url(`{"sid":"alice-sid","exp":${now - 60}}`);
        return `${h}.${p}.${hmac(512, JWT_KEY, `${h}.${p}`)}`;
      })(),
      wrongKey: (() => {
        const h = base64url('{"alg":"HS512"}');
        const p = base64url(`{"sid":"alice-sid","exp":${now + 600}}`);
        return `${h}.${p}.${hmac(512, 'another key', `${h}.${p}`)}`;
      })(),
      garbage: 'x.y.z',
      empty: '',
    });
    const headerByte = fc
      .integer({ min: 0, max: 0xff })
      .filter((c) => c === 0x09 || (c >= 0x20 && c !== 0x7f && c !== 0x3b))
      .map((c) => String.fromCharCode(c));
    const invalidByte = fc
      .integer({ min: 0, max: 0x7f })
      .filter((c) => (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f)
      .map((c) => String.fromCharCode(c));
    type Piece =
      | { kind: 'auth'; name: string; token: string; encoding: EncodingSpec }
      | { kind: 'near'; name: string; token: string }
      | { kind: 'other'; text: string }
      | { kind: 'garbage'; text: string }
      | { kind: 'filler'; size: number }
      | { kind: 'invalid'; text: string };
    const piece: fc.Arbitrary<Piece> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('auth' as const),
          name: fc.constantFrom(
            'Authorization',
            'Authorization',
            'Authorization',
            ' Authorization',
            'Authorization ',
            '\tAuthorization\t',
          ),
          token: fc.constantFrom(...Object.keys(SESSION_OF)),
          encoding: encodingSpec,
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('near' as const),
          name: fc.constantFrom(
            'authorization',
            'AUTHORIZATION',
            'Authorization2',
            'XAuthorization',
            'Authorization\xa0',
            '\xa0Authorization',
            'Authori zation',
            '"Authorization"',
            'Authorization%20',
            'Authorization.',
          ),
          token: fc.constantFrom('alice', 'bob'),
        }),
      },
      {
        weight: 4,
        arbitrary: fc
          .tuple(
            fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,10}$/),
            fc.string({ unit: headerByte, maxLength: 20 }),
          )
          .filter(([name]) => name !== 'Authorization')
          .map(([name, value]) => ({ kind: 'other' as const, text: `${name}=${value}` })),
      },
      {
        weight: 2,
        arbitrary: fc
          .string({ unit: headerByte, maxLength: 30 })
          .filter((text) => cookieValues(text, 'Authorization').length === 0)
          .map((text) => ({ kind: 'garbage' as const, text })),
      },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 1, max: 64 * 1024 })
          .map((size) => ({ kind: 'filler' as const, size })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.string({ unit: headerByte, maxLength: 4 }), invalidByte)
          .map(([text, bad]) => ({ kind: 'invalid' as const, text: `x=${text}${bad}` })),
      },
    );
    const separator = fc.constantFrom('; ', ';', ';  ', ' ; ', ';\t');
    const auth = (token: string): Piece => ({
      kind: 'auth',
      name: 'Authorization',
      token,
      encoding: BASE64,
    });
    const noise = fc.subarray([
      ['Authorization', `Basic ${b64('eve:eve')}`],
      ['Proxy-Authorization', `Basic ${b64('eve:eve')}`],
      ['Cookie2', 'Authorization=x'],
      ['X-Forwarded-For', '203.0.113.9'],
      ['Connection', 'keep-alive, x-other'],
    ] as [string, string][]);
    const input = fc.record({
      pieces: fc.array(fc.tuple(piece, separator, fc.boolean()), { minLength: 1, maxLength: 8 }),
      headerName: fc.constantFrom('Cookie', 'cookie', 'COOKIE'),
      noise,
    });

    const counts = { reached: 0, refused: 0, tooLarge: 0 };
    await fc.assert(
      fc.asyncProperty(input, async ({ pieces, headerName, noise: extra }) => {
        const now = nowSeconds();
        const tokens = tokensAt(now);
        const texts: string[] = [];
        const lines: string[][] = [[]];
        let hasInvalid = false;
        for (const [p, sep, newLine] of pieces) {
          let text: string;
          switch (p.kind) {
            case 'auth':
              text = `${p.name}=${encode(tokens[p.token] ?? '', p.encoding)}`;
              break;
            case 'near':
              text = `${p.name}=${b64(tokens[p.token] ?? '')}`;
              break;
            case 'filler':
              text = `filler=${'f'.repeat(p.size)}`;
              break;
            case 'invalid':
              hasInvalid = true;
              text = p.text;
              break;
            default:
              text = p.text;
          }
          texts.push(text);
          if (newLine) lines.push([]);
          const line = lines[lines.length - 1] as string[];
          line.push(text, sep);
        }
        const headerLines = lines
          .map((line) => line.slice(0, -1).join(''))
          .filter((line) => line !== '');
        const headers: [string, string][] = [
          ...headerLines.map((line): [string, string] => [headerName, line]),
          ...extra,
        ];
        // Node joins Cookie lines with '; ' and trims each line: what any server sees.
        const joined = headerLines.map((l) => l.replace(/^[ \t]+|[ \t]+$/g, '')).join('; ');
        const auth = pieces.flatMap(([p]) => (p.kind === 'auth' ? [p] : []));
        const values = cookieValues(joined, 'Authorization');
        assert.equal(values.length, auth.length, 'model in step');
        // Two auth cookies that differ as sent are ambiguous (cookie tossing): refused, always.
        const conflicting = new Set(values).size > 1;
        const sessionsNamed = new Set(auth.map((p) => SESSION_OF[p.token]));
        const size = headers.reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
        const secrets = [...Object.values(tokens), ...ALL_CREDENTIALS];
        const { response, reached: seen } = await sendTwice(
          { method: 'GET', target: `${MOUNT}/inbox`, headers },
          secrets,
        );

        if (seen.length > 0) {
          counts.reached++;
          assert.equal(seen.length, 1);
          assert.ok(!conflicting, 'two different auth cookies never pass');
          assert.equal(sessionsNamed.size, 1, 'all auth cookies name one session');
          const sid = [...sessionsNamed][0];
          assert.ok(sid !== undefined, 'that session exists and the token is valid');
          assertForwardedFor(seen[0] as Seen, sid);
          const forwarded = seen[0]?.headers.cookie ?? '';
          for (const [p] of pieces) {
            if (p.kind === 'other' || p.kind === 'near') {
              const kept = texts[pieces.findIndex(([q]) => q === p)] ?? '';
              if (!/[\t ]$/.test(kept)) assert.ok(forwarded.includes(kept), `kept ${kept}`);
            }
          }
          assert.equal(response.status, 200);
          return;
        }
        if (response.status === 431) {
          counts.tooLarge++;
          assert.ok(size > 8 * 1024, `431 only for large headers (${size} bytes)`);
          return;
        }
        if (hasInvalid) {
          assert.equal(response.status, 400, "Node's parser refuses control characters");
          return;
        }
        counts.refused++;
        const single = auth.length === 1 && auth[0] !== undefined ? auth[0] : undefined;
        const mustPass =
          single !== undefined &&
          SESSION_OF[single.token] !== undefined &&
          isCanonical(single.encoding) &&
          size <= 8 * 1024;
        assert.ok(!mustPass, `one valid auth cookie was refused (${response.status})`);
        assertRefusal(response, (code) => {
          if (auth.length === 0) return code === 'ERR_TOKEN_MISSING';
          if (conflicting) return code === 'ERR_COOKIE_DUPLICATE';
          return isTokenRefusal(code);
        });
      }),
      settings<[ValueOf<typeof input>]>(200, [
        // Cookie tossing: another session's cookie beside the user's, in one line or two.
        [
          {
            pieces: [
              [auth('alice'), '; ', false],
              [auth('bob'), '; ', false],
            ],
            headerName: 'Cookie',
            noise: [],
          },
        ],
        [
          {
            pieces: [
              [auth('bob'), '; ', false],
              [auth('alice'), '; ', true],
            ],
            headerName: 'Cookie',
            noise: [],
          },
        ],
        [
          {
            pieces: [
              [auth('alice'), '; ', false],
              [auth('alice2'), '; ', false],
            ],
            headerName: 'Cookie',
            noise: [],
          },
        ],
        // Another cookie to cookie-parser, to be kept.
        [
          {
            pieces: [
              [{ kind: 'near', name: 'Authorization\xa0', token: 'bob' }, '; ', false],
              [auth('alice'), '; ', false],
            ],
            headerName: 'Cookie',
            noise: [],
          },
        ],
      ]),
    );
    assert.ok(counts.reached > 0 && counts.refused > 0, JSON.stringify(counts));
  });

  it('stored sessions: any JSON, any Redis type; data errors are 500, never a pass', async () => {
    type Credentials = string | { repeat: string; times: number };
    type Stored =
      | { type: 'missing' }
      | { type: 'json'; extra: Record<string, unknown>; credentials: Credentials }
      | { type: 'text'; text: string }
      | { type: 'bytes'; data: number[] }
      | { type: 'list' | 'hash' | 'set' | 'zset' | 'stream' };
    const credentials: fc.Arbitrary<Credentials> = fc.oneof(
      { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 64 }) },
      {
        weight: 1,
        arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 8 }).map((s) => `${s}\n`),
      },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          '',
          '\n',
          'YQ==\n\n',
          'YQ==\r\n',
          'YQ==\nx',
          'é',
          'a\tb',
          '\u0000',
          ' ',
          'a\u2028',
          'YQ==\r\nX-Injected: 1',
        ),
      },
      { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
      {
        weight: 1,
        arbitrary: fc.record({
          repeat: fc.constant('B'),
          times: fc.integer({ min: 3000, max: 4096 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          repeat: fc.constant('A'),
          times: fc.oneof(
            fc.integer({ min: 4097, max: 5000 }),
            fc.integer({ min: 64 * 1024, max: 1024 * 1024 }),
          ),
        }),
      },
    );
    const stored: fc.Arbitrary<Stored> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          type: fc.constant('json' as const),
          extra: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), {
            maxKeys: 2,
          }),
          credentials,
        }),
      },
      {
        weight: 2,
        arbitrary: fc
          .jsonValue({ maxDepth: 2 })
          .map((c) => ({ type: 'text' as const, text: JSON.stringify({ credentials: c }) })),
      },
      {
        weight: 1,
        arbitrary: fc.json({ maxDepth: 2 }).map((text) => ({ type: 'text' as const, text })),
      },
      {
        weight: 2,
        arbitrary: fc
          .constantFrom(
            '{"credentials":"YQ==","credentials":5}',
            '{"Credentials":"YQ=="}',
            '[{"credentials":"YQ=="}]',
            '"{\\"credentials\\":\\"YQ==\\"}"',
            '{"credentials":"YQ=="',
            '{"credentials":"YQ=="}x',
            '\ufeff{"credentials":"YQ=="}',
            ' {"credentials":"YQ=="}\n',
            '{"credentials":"YQ==","__proto__":{"credentials":1}}',
            '{"credentials":"\\ud800"}',
            '',
            'null',
          )
          .map((text) => ({ type: 'text' as const, text })),
      },
      {
        weight: 1,
        arbitrary: fc
          .array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 })
          .map((data) => ({ type: 'bytes' as const, data })),
      },
      {
        weight: 2,
        arbitrary: fc
          .constantFrom('list', 'hash', 'set', 'zset', 'stream')
          .map((type): Stored => ({ type })),
      },
      { weight: 1, arbitrary: fc.constant<Stored>({ type: 'missing' }) },
    );
    const render = (value: Stored): Buffer | undefined => {
      switch (value.type) {
        case 'json': {
          const c = value.credentials;
          const text = typeof c === 'string' ? c : c.repeat.repeat(c.times);
          return Buffer.from(JSON.stringify({ ...value.extra, credentials: text }));
        }
        case 'text':
          return Buffer.from(value.text);
        case 'bytes':
          return Buffer.from(value.data);
        default:
          return undefined;
      }
    };

    // What the README promises for each kind of stored value.
    type Expected = { status: 200; authorization: string } | { status: number; code: ErrorCode };
    const expected = (value: Stored, raw: Buffer | undefined): Expected => {
      if (value.type === 'missing') return { status: 401, code: 'ERR_SESSION_NOT_FOUND' };
      if (raw === undefined) return { status: 500, code: 'ERR_SESSION_MALFORMED' };
      let data: unknown;
      try {
        data = JSON.parse(raw.toString('utf8'));
      } catch {
        return { status: 500, code: 'ERR_SESSION_MALFORMED' };
      }
      const c =
        typeof data === 'object' && data !== null && !Array.isArray(data)
          ? (data as { credentials?: unknown }).credentials
          : undefined;
      if (typeof c !== 'string') return { status: 500, code: 'ERR_SESSION_MALFORMED' };
      const line = c.endsWith('\n') ? c.slice(0, -1) : c;
      // Printable ASCII with no space at either end (what travels verbatim in a header value),
      // at most 4096 characters (README).
      if (!/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(line) || line.length > 4096) {
        return { status: 500, code: 'ERR_CREDENTIALS_INVALID' };
      }
      return { status: 200, authorization: `Basic ${line}` };
    };

    const counts: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(stored, async (value) => {
        const sid = `fuzz-session-${++sequence}`;
        const raw = render(value);
        switch (value.type) {
          case 'missing':
            break;
          case 'json':
          case 'text':
          case 'bytes':
            await redis.set(sid, raw ?? '');
            break;
          case 'list':
            await redis.rpush(sid, JSON.stringify({ credentials: 'YQ==' }));
            break;
          case 'hash':
            await redis.hset(sid, 'credentials', 'YQ==');
            break;
          case 'set':
            await redis.sadd(sid, 'YQ==');
            break;
          case 'zset':
            await redis.zadd(sid, 1, 'YQ==');
            break;
          case 'stream':
            await redis.xadd(sid, '*', 'credentials', 'YQ==');
            break;
        }
        try {
          const token = plainToken(sid, nowSeconds());
          const want = expected(value, raw);
          const { response, reached: seen } = await send(
            {
              method: 'GET',
              target: `${MOUNT}/x`,
              headers: [['cookie', `Authorization=${token}`]],
            },
            [token, sid, ...(raw === undefined ? [] : [raw.toString('utf8')])],
          );
          counts[`${response.status}`] = (counts[`${response.status}`] ?? 0) + 1;
          if ('authorization' in want) {
            assert.equal(response.status, 200);
            assert.equal(seen.length, 1);
            assert.equal(seen[0]?.headers.authorization, want.authorization);
            return;
          }
          assert.equal(seen.length, 0, 'the backend is not called');
          assert.equal(response.status, want.status);
          assert.equal(errorCode(response), want.code);
        } finally {
          await redis.del(sid);
        }
      }),
      settings<[Stored]>(150, [
        [{ type: 'json', extra: {}, credentials: { repeat: 'A', times: 1024 * 1024 } }],
        [{ type: 'json', extra: {}, credentials: { repeat: 'A', times: 4097 } }],
        [{ type: 'json', extra: {}, credentials: { repeat: 'A', times: 4096 } }],
        [{ type: 'json', extra: {}, credentials: ' ' }],
        [{ type: 'list' }],
        [{ type: 'hash' }],
      ]),
    );
    assert.ok(Object.keys(counts).length >= 3, JSON.stringify(counts));
  });

  it('request targets: only paths under the target path, exactly as asked', async () => {
    const piece = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constantFrom(
          '/',
          '/',
          '.',
          '..',
          '%2e',
          '%2E',
          '%2e%2e',
          '.%2e',
          '%252e',
          '%25',
          '%2f',
          '%2F',
          '%5c',
          '%5C',
          '\\',
          ';',
          ';x',
          ';..',
          '#',
          '#frag',
          '?',
          '?a=b',
          '&',
          '//',
          '@',
          ':',
          'http:',
          '*',
          '%00',
          '%0a',
          '%',
          '%zz',
          '%c0%ae',
          '%u002e',
          '~',
          'remote.php',
          'dav',
          '"',
          '{',
          '|',
          '^',
          '`',
          "'",
        ),
      },
      { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9_-]{1,5}$/) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(' ', '\t', '\x00', '\x01', '\x7f', '\x80', '\xa0', '\xff', 'é'),
      },
    );
    const prefix = fc.oneof(
      { weight: 12, arbitrary: fc.constant(MOUNT) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '/DAV',
          '/Dav',
          '//dav',
          '/./dav',
          '/x/../dav',
          '/dav;x',
          '/dav%2f',
          '/d%61v',
          '\\dav',
          `http://127.0.0.1${MOUNT}`,
          `http://evil.example${MOUNT}`,
          '*',
          '',
        ),
      },
    );
    const method = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'DELETE', 'PUT', 'PROPFIND');
    const noise = fc.subarray([
      ['Authorization', `Basic ${b64('eve:eve')}`],
      ['Proxy-Authorization', `Basic ${b64('eve:eve')}`],
      ['X-Forwarded-Host', 'evil.example'],
      ['Upgrade', 'h2c'],
    ] as [string, string][]);
    const input = fc.record({
      prefix,
      pieces: fc.array(piece, { maxLength: 10 }),
      method,
      noise,
    });

    // The request target below the mount, as Express hands it on, or undefined if the mount
    // does not match: Express compares the path (fragment and query cut) case-insensitively.
    const belowMount = (target: string): string | undefined => {
      const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target)?.[0] ?? '';
      const rest = target.slice(origin.length);
      // Express (parseurl) reads most paths as they are, but hands absolute targets and those
      // holding '#' or whitespace to url.parse, which cuts the fragment and turns '\' into '/'.
      const slow = origin !== '' || /[\t\n\f\r #\xa0]/.test(rest);
      let path = (slow ? (rest.split('#', 1)[0] ?? '') : rest).split('?', 1)[0] ?? '';
      if (slow) path = path.replaceAll('\\', '/');
      if (!/^\/dav(?=\/|$)/i.test(path)) return undefined;
      const remainder = rest.slice(MOUNT.length);
      return origin + (remainder.startsWith('/') ? remainder : `/${remainder}`);
    };

    const counts = { reached: 0, refused: 0, other: 0 };
    await fc.assert(
      fc.asyncProperty(input, async ({ prefix: start, pieces, method: verb, noise: extra }) => {
        const target = start + pieces.join('');
        const now = nowSeconds();
        const token = plainToken('alice-sid', now);
        const { response, reached: seen } = await send(
          {
            method: verb,
            target,
            headers: [['cookie', `Authorization=${b64(token)}`], ...extra],
            ...(verb === 'PUT' ? { body: 'x' } : {}),
          },
          [token, ...ALL_CREDENTIALS],
        );
        // Node's parser allows extra spaces before the HTTP version: the target ends before them.
        const below = belowMount(target.replace(/ +$/, ''));
        const plain =
          below !== undefined &&
          /^(\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*\/?(\?[A-Za-z0-9=&_-]*)?$/.test(below) &&
          !below.split(/[/?]/).some((s) => s === '.' || s === '..');

        if (seen.length > 0) {
          counts.reached++;
          assert.equal(seen.length, 1);
          const got = seen[0] as Seen;
          assertForwardedFor(got, 'alice-sid');
          assert.ok(
            below?.startsWith('/') === true,
            'the mount matched and the path is origin-form',
          );
          assert.equal(
            sameResourceForm(got.url),
            sameResourceForm(TARGET_PATH + below),
            'the backend got the resource the client asked for',
          );
          assert.equal(got.method, verb);
          assert.equal(got.headers.upgrade, undefined);
          if (plain) assert.equal(got.url, TARGET_PATH + below);
          assert.equal(response.status, 200);
          return;
        }
        assert.ok(!plain, `a plain path was refused: ${response.status}`);
        if (verb === 'HEAD' && below !== undefined && response.status === 400) {
          // The chain's refusal, its code in a body that HEAD leaves out.
          counts.refused++;
          return;
        }
        if (errorCode(response) === undefined) {
          // Not the chain's answer: Node's parser refusing the request line, or Express finding
          // nothing mounted there.
          counts.other++;
          if (response.status === 404) assert.equal(below, undefined, '404 only outside the mount');
          else {
            assert.equal(response.status, 400);
            assert.ok(
              !/^(\/|[a-z][a-z0-9+.-]*:\/\/)[\x21-\x7e]*$/i.test(target),
              'Node refused only a malformed target',
            );
          }
          return;
        }
        counts.refused++;
        assert.notEqual(below, undefined, 'the chain answers only below its mount');
        assertRefusal(response, (code) => statusForCode(code) === 400);
      }),
      settings<[ValueOf<typeof input>]>(300, [
        // The fragment escape and its siblings (what url.parse treats specially).
        [{ prefix: MOUNT, pieces: ['/..#'], method: 'GET', noise: [] }],
        [{ prefix: MOUNT, pieces: ['/%2e%2e#x'], method: 'GET', noise: [] }],
        [{ prefix: MOUNT, pieces: ['/frag/#ment'], method: 'DELETE', noise: [] }],
        [{ prefix: MOUNT, pieces: ['//user@host/x'], method: 'DELETE', noise: [] }],
        [{ prefix: MOUNT, pieces: ['/a\\b'], method: 'PUT', noise: [] }],
        [{ prefix: MOUNT, pieces: ['/..;/x'], method: 'GET', noise: [] }],
        [{ prefix: `http://127.0.0.1${MOUNT}`, pieces: ['\\'], method: 'GET', noise: [] }],
      ]),
    );
    assert.ok(counts.reached > 0 && counts.refused > 0, JSON.stringify(counts));
  });
});
