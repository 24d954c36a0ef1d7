// Generated JWTs for the property tests: each segment (header, claims, signature) and the
// cookie encoding around them, from well-formed to hostile, correctly signed ones included.
import fc from 'fast-check';
import { base64url, hmac } from './fuzz-model.js';
import { JWT_KEY } from './tokens.js';

const b64 = (text: string): string => Buffer.from(text).toString('base64');

/** JSON texts, including literals JSON.stringify never writes (1e400 parses as Infinity). */
const oddNumber = fc.constantFrom(
  '1e400',
  '-1e400',
  '-0',
  '0',
  '1e308',
  '-1e308',
  '4e9',
  '1.5',
  '123456789012345678901234567890',
  '1E3',
);
const oddValue = fc.constantFrom('null', 'true', 'false', '[]', '{}', '""', '"1"', '[1]');
const anyJson = fc.oneof(oddNumber, oddValue, fc.json({ maxDepth: 2 }));

export type TimeSpec =
  { rel: number; as: 'number' | 'string' | 'array' | 'fraction' } | { text: string };
const timeSpec: fc.Arbitrary<TimeSpec> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      rel: fc.oneof(
        fc.integer({ min: 10, max: 86_400 }),
        fc.integer({ min: -2e9, max: -10 }),
        fc.integer({ min: 86_400, max: 5e9 }),
      ),
      as: fc.constantFrom('number', 'number', 'number', 'string', 'array', 'fraction'),
    }),
  },
  { weight: 3, arbitrary: oddNumber.map((text) => ({ text })) },
  { weight: 1, arbitrary: anyJson.map((text) => ({ text })) },
);

function renderTime(spec: TimeSpec, now: number): string {
  if ('text' in spec) return spec.text;
  const t = now + spec.rel;
  switch (spec.as) {
    case 'number':
      return String(t);
    case 'string':
      return JSON.stringify(String(t));
    case 'array':
      return `[${t}]`;
    case 'fraction':
      return `${t}.5`;
  }
}

const sidText = (knownSids: string[]): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(...knownSids).map((sid) => JSON.stringify(sid)),
    },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '"missing-sid"',
        '""',
        '"ALICE-SID"',
        '"alice-sid "',
        '"alice-sid\\u0000"',
        '"\\ud800"',
        '"\\udfff"',
        '"\\udbff\\udbff"',
        '"*"',
        '"alice-sid\\n"',
        '["alice-sid"]',
        '{"toString":"alice-sid"}',
      ),
    },
    {
      weight: 1,
      arbitrary: fc.string({ unit: 'binary', maxLength: 12 }).map((s) => JSON.stringify(s)),
    },
    { weight: 2, arbitrary: anyJson },
  );

const extraClaims = fc.array(
  fc.tuple(
    fc.oneof(
      fc.constantFrom('exp', 'nbf', 'sid', 'iat', 'sub', 'aud', 'iss', '__proto__', 'constructor'),
      fc.string({ maxLength: 6 }),
    ),
    anyJson,
  ),
  { maxLength: 3 },
);

export interface ClaimsSpec {
  exp: TimeSpec | undefined;
  nbf: TimeSpec | undefined;
  sid: string | undefined;
  /** 'now', 'absent', or a JSON text. */
  iat: string;
  extra: [string, string][];
  pad: number;
  shape: 'object' | 'array' | 'string' | 'truncated' | 'bom' | 'spaced';
}

const claimsSpec = (knownSids: string[]): fc.Arbitrary<ClaimsSpec> =>
  fc.record({
    exp: fc.option(timeSpec, { nil: undefined, freq: 8 }),
    nbf: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: timeSpec },
    ),
    sid: fc.option(sidText(knownSids), { nil: undefined, freq: 10 }),
    iat: fc.oneof(
      { weight: 4, arbitrary: fc.constant('now') },
      { weight: 2, arbitrary: fc.constant('absent') },
      { weight: 1, arbitrary: anyJson },
    ),
    extra: fc.oneof(
      { weight: 3, arbitrary: fc.constant<[string, string][]>([]) },
      { weight: 1, arbitrary: extraClaims },
    ),
    pad: fc.oneof(
      { weight: 12, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 12_000 }) },
    ),
    shape: fc.oneof(
      { weight: 20, arbitrary: fc.constant('object' as const) },
      { weight: 1, arbitrary: fc.constantFrom('array', 'string', 'truncated', 'bom', 'spaced') },
    ),
  });

function renderClaims(spec: ClaimsSpec, now: number): string {
  const entries: [string, string][] = [];
  if (spec.iat === 'now') entries.push(['iat', String(now)]);
  else if (spec.iat !== 'absent') entries.push(['iat', spec.iat]);
  if (spec.sid !== undefined) entries.push(['sid', spec.sid]);
  if (spec.exp !== undefined) entries.push(['exp', renderTime(spec.exp, now)]);
  if (spec.nbf !== undefined) entries.push(['nbf', renderTime(spec.nbf, now)]);
  entries.push(...spec.extra);
  if (spec.pad > 0) entries.push(['pad', JSON.stringify('p'.repeat(spec.pad))]);
  const object = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  switch (spec.shape) {
    case 'object':
      return object;
    case 'array':
      return `[${object}]`;
    case 'string':
      return JSON.stringify(object);
    case 'truncated':
      return object.slice(0, -1);
    case 'bom':
      return `\ufeff${object}`;
    case 'spaced':
      return ` ${object}\n`;
  }
}

const headerText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .record({
        alg: fc.oneof(
          { weight: 10, arbitrary: fc.constant('"HS512"') },
          {
            weight: 3,
            arbitrary: fc.constantFrom(
              '"HS256"',
              '"HS384"',
              '"none"',
              '"None"',
              '"RS512"',
              '"ES512"',
              '"hs512"',
              '"HS512 "',
              'null',
              '["HS512"]',
            ),
          },
          { weight: 1, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: anyJson },
        ),
        typ: fc.constantFrom(undefined, '"JWT"', '"jwt"', '1'),
        dupAlg: fc.constantFrom(undefined, undefined, undefined, '"none"', '"HS512"'),
        extra: fc.oneof(
          { weight: 4, arbitrary: fc.constant<[string, string][]>([]) },
          { weight: 1, arbitrary: extraClaims },
        ),
      })
      .map(({ alg, typ, dupAlg, extra }) => {
        const entries: [string, string][] = [];
        if (dupAlg !== undefined) entries.push(['alg', dupAlg]);
        if (alg !== undefined) entries.push(['alg', alg]);
        if (typ !== undefined) entries.push(['typ', typ]);
        entries.push(...extra);
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
      }),
  },
  { weight: 1, arbitrary: anyJson },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 24 }) },
);

export type SegmentForm = 'canonical' | 'standard' | 'padded' | 'plain' | 'empty' | 'junk';
const segmentForm: fc.Arbitrary<SegmentForm> = fc.oneof(
  { weight: 30, arbitrary: fc.constant('canonical' as const) },
  { weight: 1, arbitrary: fc.constantFrom('standard', 'padded', 'plain', 'empty', 'junk') },
);

function segment(text: string, form: SegmentForm): string {
  switch (form) {
    case 'canonical':
      return base64url(text);
    case 'standard':
      return b64(text);
    case 'padded':
      return b64(text).replaceAll('+', '-').replaceAll('/', '_');
    case 'plain':
      return text;
    case 'empty':
      return '';
    case 'junk':
      return `${base64url(text)}~`;
  }
}

type SignatureForm =
  | 'hs512'
  | 'wrong-key'
  | 'hs256'
  | 'hs384'
  | 'empty'
  | 'flip-first'
  | 'flip-last'
  | 'drop-last'
  | 'append'
  | { random: string };
const signatureForm: fc.Arbitrary<SignatureForm> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('hs512' as const) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'wrong-key',
      'hs256',
      'hs384',
      'empty',
      'flip-first',
      'flip-last',
      'drop-last',
      'append',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .base64String({ maxLength: 90 })
      .map((s) => ({ random: s.replaceAll('+', '-').replaceAll('/', '_').replaceAll('=', '') })),
  },
);

function flip(char: string): string {
  return char === 'A' ? 'B' : 'A';
}

function signature(form: SignatureForm, signed: string): string {
  const good = hmac(512, JWT_KEY, signed);
  if (typeof form === 'object') return form.random;
  switch (form) {
    case 'hs512':
      return good;
    case 'wrong-key':
      return hmac(512, `${JWT_KEY}x`, signed);
    case 'hs256':
      return hmac(256, JWT_KEY, signed);
    case 'hs384':
      return hmac(384, JWT_KEY, signed);
    case 'empty':
      return '';
    case 'flip-first':
      return flip(good.slice(0, 1)) + good.slice(1);
    case 'flip-last':
      return good.slice(0, -1) + flip(good.slice(-1));
    case 'drop-last':
      return good.slice(0, -1);
    case 'append':
      return `${good}A`;
  }
}

type Shape = 'three' | 'two' | 'four' | 'trailing-dot' | 'leading-space' | 'inner-space';
const tokenShape: fc.Arbitrary<Shape> = fc.oneof(
  { weight: 30, arbitrary: fc.constant('three' as const) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('two', 'four', 'trailing-dot', 'leading-space', 'inner-space'),
  },
);

export interface TokenSpec {
  header: string;
  headerForm: SegmentForm;
  claims: ClaimsSpec;
  claimsForm: SegmentForm;
  signature: SignatureForm;
  shape: Shape;
}

/** Tokens of every shape; `knownSids` are the sids that have a session. */
export const tokenSpec = (knownSids: string[]): fc.Arbitrary<TokenSpec> =>
  fc.record({
    header: headerText,
    headerForm: segmentForm,
    claims: claimsSpec(knownSids),
    claimsForm: segmentForm,
    signature: signatureForm,
    shape: tokenShape,
  });

export function buildToken(spec: TokenSpec, now: number): string {
  const h = segment(spec.header, spec.headerForm);
  const p = segment(renderClaims(spec.claims, now), spec.claimsForm);
  const s = signature(spec.signature, `${h}.${p}`);
  switch (spec.shape) {
    case 'three':
      return `${h}.${p}.${s}`;
    case 'two':
      return `${h}.${p}`;
    case 'four':
      return `${h}.${p}.${s}.${s}`;
    case 'trailing-dot':
      return `${h}.${p}.${s}.`;
    case 'leading-space':
      return ` ${h}.${p}.${s}`;
    case 'inner-space':
      return `${h}.${p} .${s}`;
  }
}

/** Signs ordinary claims for a session, as a login site would. */
export function plainToken(sid: string, now: number, extra = ''): string {
  const h = base64url('{"alg":"HS512","typ":"JWT"}');
  const p = base64url(`{"sid":${JSON.stringify(sid)},"iat":${now},"exp":${now + 600}${extra}}`);
  return `${h}.${p}.${hmac(512, JWT_KEY, `${h}.${p}`)}`;
}

/** How the token is written into the cookie value. The first ones are what login sites send. */
export const CANONICAL_ENCODINGS = [
  'base64',
  'base64-unpadded',
  'base64url',
  'raw',
  'quoted-inside',
  'quoted-inside-url',
  'cookie-quoted',
  'raw-quoted',
  'percent',
  'spaced',
] as const;
const ODD_ENCODINGS = [
  'utf16',
  'json-cookie',
  'trailing-newline',
  'double-base64',
  'mutated',
  'latin1-junk',
] as const;
type Encoding = (typeof CANONICAL_ENCODINGS)[number] | (typeof ODD_ENCODINGS)[number];
export interface EncodingSpec {
  encoding: Encoding;
  /** Where and what a 'mutated' encoding changes. */
  at: number;
  char: string;
}
export const encodingSpec: fc.Arbitrary<EncodingSpec> = fc.record({
  encoding: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...CANONICAL_ENCODINGS) },
    { weight: 1, arbitrary: fc.constantFrom(...ODD_ENCODINGS) },
  ),
  at: fc.nat(),
  char: fc.constantFrom('A', '=', '+', '/', '-', '_', '.', '%', '"', ' ', '\\', '\xff'),
});

export function encode(token: string, spec: EncodingSpec): string {
  switch (spec.encoding) {
    case 'base64':
      return b64(token);
    case 'base64-unpadded':
      return b64(token).replace(/=+$/, '');
    case 'base64url':
      return base64url(token);
    case 'raw':
      return token;
    case 'quoted-inside':
      return b64(`"${token}"`);
    case 'quoted-inside-url':
      return base64url(`"${token}"`);
    case 'cookie-quoted':
      return `"${b64(token)}"`;
    case 'raw-quoted':
      return `"${token}"`;
    case 'percent':
      return encodeURIComponent(b64(token));
    case 'spaced':
      return ` ${b64(token)} `;
    case 'utf16':
      return Buffer.from(token, 'utf16le').toString('base64');
    case 'json-cookie':
      return `j:${JSON.stringify(token)}`;
    case 'trailing-newline':
      return b64(`${token}\n`);
    case 'double-base64':
      return b64(b64(token));
    case 'mutated': {
      const text = b64(token);
      const at = spec.at % (text.length + 1);
      return text.slice(0, at) + spec.char + text.slice(at + (spec.at % 2));
    }
    case 'latin1-junk':
      return `${b64(token)}\xe9`;
  }
}

export const isCanonical = (spec: EncodingSpec): boolean =>
  (CANONICAL_ENCODINGS as readonly string[]).includes(spec.encoding);

/** An ordinary, correctly signed token for alice-sid, with `claims` changed: for examples. */
export function tokenExample(claims: Partial<ClaimsSpec>): TokenSpec {
  return {
    header: '{"alg":"HS512","typ":"JWT"}',
    headerForm: 'canonical',
    claims: {
      exp: { rel: 600, as: 'number' },
      nbf: undefined,
      sid: '"alice-sid"',
      iat: 'now',
      extra: [],
      pad: 0,
      shape: 'object',
      ...claims,
    },
    claimsForm: 'canonical',
    signature: 'hs512',
    shape: 'three',
  };
}
