/**
 * Removes every cookie named `name` from a Cookie header value, keeping the others in order.
 * Returns `undefined` when nothing is left, so the caller can drop the header.
 *
 * @example
 * withoutCookie('a=1; Authorization=xyz; b=2', 'Authorization'); // 'a=1; b=2'
 */
export function withoutCookie(header: string, name: string): string | undefined {
  // Most requests carry only the auth cookie or none: skip the split when the name is absent.
  if (!header.includes(name)) return header;
  // Browsers of a site with one cookie send it alone: nothing is left once it goes. (Anything
  // less plain, surrounding spaces included, takes the general path below.)
  if (header.startsWith(name) && header.charCodeAt(name.length) === 0x3d && !header.includes(';')) {
    return undefined;
  }
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=');
    return trimSpaces(eq === -1 ? pair : pair.slice(0, eq)) !== name;
  });
  const joined = kept
    .map(trimSpaces)
    .filter((pair) => pair !== '')
    .join('; ');
  return joined === '' ? undefined : joined;
}

/**
 * Whether a Cookie header holds two or more cookies named `name` whose values differ. Values are
 * compared as sent (less surrounding whitespace), before any unquoting or percent-decoding, so
 * `A` and `"A"` differ. A cookie planted from a sibling subdomain or a narrower Path ("cookie
 * tossing") arrives beside the user's own: refusing beats guessing which one the user meant.
 *
 * @example
 * hasConflictingCookies('Authorization=A; theme=dark; Authorization=B', 'Authorization'); // true
 * hasConflictingCookies('Authorization=A; Authorization=A', 'Authorization');             // false
 */
export function hasConflictingCookies(header: string, name: string): boolean {
  // Most requests carry the name once: no split. The name alone is searched for, since cookie
  // parsers also accept `Authorization =B`.
  const first = header.indexOf(name);
  if (first === -1 || header.indexOf(name, first + name.length) === -1) return false;
  let value: string | undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || trimSpaces(pair.slice(0, eq)) !== name) continue;
    const raw = trimSpaces(pair.slice(eq + 1));
    if (value === undefined) value = raw;
    else if (raw !== value) return true;
  }
  return false;
}

// Spaces and tabs only, as cookie-parser trims (RFC 6265 5.4): String#trim would also take a
// no-break space, making "Authorization\xa0" (another cookie to cookie-parser) look like ours.
function trimSpaces(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, '');
}
