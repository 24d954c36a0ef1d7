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
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=');
    return (eq === -1 ? pair : pair.slice(0, eq)).trim() !== name;
  });
  const joined = kept
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .join('; ');
  return joined === '' ? undefined : joined;
}
