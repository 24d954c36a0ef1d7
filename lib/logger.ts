import { createHash } from 'node:crypto';

/** Where the proxy writes its log lines; `console` fits. */
export type Logger = Pick<Console, 'debug' | 'info' | 'warn' | 'error'>;

const noop = (): void => undefined;

/** The default: a library stays quiet unless asked to speak. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * A short, stable fingerprint of a session id, so that log lines can be correlated with a
 * session without printing the id itself (which is as good as the cookie to an attacker).
 *
 * @example
 * sidHash('4f1c…'); // 'sid#9b2e54c1a0d3'
 */
export function sidHash(sid: string): string {
  return `sid#${createHash('sha256').update(sid).digest('hex').slice(0, 12)}`;
}
