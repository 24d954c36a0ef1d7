// The oracle of the property tests: what the proxy SHOULD do, written from the rules (RFC 6265,
// RFC 7515/7519, RFC 3986, the README), independently of the code under test.
import { createHmac } from 'node:crypto';

export function base64url(text: string | Buffer): string {
  return Buffer.from(text).toString('base64url');
}

export function hmac(bits: 256 | 384 | 512, key: string, data: string): string {
  return createHmac(`sha${bits}`, key).update(data).digest('base64url');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface TokenVerdict {
  /** Correctly signed HS512, with the time claims and the sid the README requires. */
  valid: boolean;
  sid?: string;
  claims?: Record<string, unknown>;
}

/**
 * Whether a compact JWS is a token the proxy may accept at `now` (seconds), by the rules the
 * README states: HS512 signature by `key` over the first two segments, a finite `exp` in the
 * future, an `nbf` (if any) finite and not in the future, an `iat` (if any) finite, and a
 * non-empty, well-formed string `sid`.
 */
export function judgeToken(token: string, key: string, now: number): TokenVerdict {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => /^[A-Za-z0-9_-]+$/.test(part))) {
    return { valid: false };
  }
  const [h = '', p = '', s = ''] = parts;
  const header = parseJson(Buffer.from(h, 'base64url').toString('utf8'));
  if (!isObject(header) || header.alg !== 'HS512') return { valid: false };
  if (s !== hmac(512, key, `${h}.${p}`)) return { valid: false };
  const claims = parseJson(Buffer.from(p, 'base64url').toString('utf8'));
  if (!isObject(claims)) return { valid: false };
  const { exp, nbf, iat, sid } = claims;
  const finite = (value: unknown): value is number =>
    typeof value === 'number' && Number.isFinite(value);
  const valid =
    finite(exp) &&
    exp > now &&
    (nbf === undefined || (finite(nbf) && nbf <= now)) &&
    (iat === undefined || finite(iat)) &&
    typeof sid === 'string' &&
    sid !== '' &&
    // UTF-8 (and so Redis) has no form for a lone surrogate.
    !/\p{Cs}/u.test(sid);
  return typeof sid === 'string' ? { valid, sid, claims } : { valid, claims };
}

/**
 * The cookies of a Cookie header named exactly `name`, as RFC 6265 5.4 and every server
 * framework split them: pairs separated by `;`, name and value trimmed of spaces and tabs.
 */
export function cookieValues(header: string, name: string): string[] {
  const values: string[] = [];
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    if (pair.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, '') === name) {
      values.push(pair.slice(eq + 1).replace(/^[ \t]+|[ \t]+$/g, ''));
    }
  }
  return values;
}

// Lenient, as backends are: a malformed escape stays as it is.
export function percentDecode(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
}

function resolveDots(segments: string[]): string[] {
  const out: string[] = [];
  for (const segment of segments) {
    if (segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  return out;
}

/**
 * Whether every plausible backend reading of `path` stays under `prefix` (such as
 * `/remote.php`): with or without the fragment cut off, `\` as a separator or a letter, `;params`
 * stripped or kept, empty segments collapsed or kept, percent-decoded zero to three times, then
 * dot segments resolved (RFC 3986 5.2.4).
 */
export function staysUnder(path: string, prefix: string): boolean {
  const root = prefix.split('/').filter(Boolean);
  for (const cutFragment of [false, true]) {
    let base = path.split('?', 1)[0] ?? '';
    if (cutFragment) base = base.split('#', 1)[0] ?? '';
    for (const backslash of [false, true]) {
      for (const params of [false, true]) {
        for (const collapse of [false, true]) {
          let text = base;
          for (let round = 0; round <= 3; round++) {
            if (round > 0) text = percentDecode(text);
            const separated = backslash ? text.replaceAll('\\', '/') : text;
            if (!separated.startsWith('/')) return false;
            let segments = separated.slice(1).split('/');
            if (params) segments = segments.map((s) => s.split(';', 1)[0] ?? '');
            if (collapse)
              segments = segments.filter((s, i) => s !== '' || i === segments.length - 1);
            const resolved = resolveDots(segments);
            if (!root.every((name, i) => resolved[i] === name)) return false;
          }
        }
      }
    }
  }
  return true;
}

/**
 * A request target in the form used to compare what the client asked for with what the backend
 * got: runs of `/` collapsed (http-proxy joins paths that way) and escapes decoded once (Node
 * escapes some characters on the way out). Everything else, `#`, `\` and spaces included, must
 * arrive as sent.
 */
export function sameResourceForm(target: string): string {
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  const rest = query < 0 ? '' : target.slice(query);
  return percentDecode(path.replace(/\/+/g, '/')) + percentDecode(rest);
}
