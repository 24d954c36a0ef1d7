import type { UrlProblem } from './url-map.js';

/**
 * Applies `map` to the resource tags of a WebDAV `If` header (RFC 4918 10.4), the `<url>` that
 * stand before a parenthesized list. State tokens (`<urn:uuid:...>` inside the lists) and entity
 * tags (`["..."]`) are copied as they are. A header that does not follow the grammar is a problem:
 * what the backend would make of it cannot be known.
 *
 * @example
 * mapIfResourceTags('<http://a/dav/x> (<urn:uuid:1> ["e"])', (url) => url.replace('/dav', '/remote.php'));
 * // '<http://a/remote.php/x> (<urn:uuid:1> ["e"])'
 */
export function mapIfResourceTags(
  value: string,
  map: (url: string) => string | UrlProblem,
): string | UrlProblem {
  let out = '';
  let i = 0;
  let lists = 0;
  while (i < value.length) {
    const c = value.charAt(i);
    if (c === ' ' || c === '\t') {
      out += c;
      i++;
    } else if (c === '<') {
      const end = value.indexOf('>', i + 1);
      if (end < 0) return { problem: 'has an unterminated resource tag' };
      const url = value.slice(i + 1, end);
      if (/[\s<]/.test(url)) return { problem: 'has a malformed resource tag' };
      const mapped = map(url);
      if (typeof mapped !== 'string') return mapped;
      out += `<${mapped}>`;
      i = end + 1;
    } else if (c === '(') {
      const end = listEnd(value, i + 1);
      if (end < 0) return { problem: 'has an unterminated list' };
      out += value.slice(i, end + 1);
      i = end + 1;
      lists++;
    } else {
      return { problem: 'does not follow the If grammar' };
    }
  }
  return lists === 0 ? { problem: 'has no condition list' } : out;
}

/** Index of the `)` closing a list whose content starts at `from`, or -1. */
function listEnd(value: string, from: number): number {
  let i = from;
  while (i < value.length) {
    const c = value.charAt(i);
    if (c === ')') return i;
    if (c === '<') {
      // A state token is a Coded-URL: `)` may occur inside it.
      const end = value.indexOf('>', i + 1);
      if (end < 0) return -1;
      i = end + 1;
    } else if (c === '[') {
      const end = entityTagEnd(value, i + 1);
      if (end < 0) return -1;
      i = end + 1;
    } else if (c === '(') {
      return -1;
    } else {
      i++;
    }
  }
  return -1;
}

/** Index of the `]` closing an entity tag condition; `]` may occur inside its quoted string. */
function entityTagEnd(value: string, from: number): number {
  let quoted = false;
  for (let i = from; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '"') quoted = !quoted;
    else if (c === ']' && !quoted) return i;
  }
  return -1;
}
