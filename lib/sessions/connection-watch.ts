import type { Logger } from '../logger.js';
import type { RedisClient } from './redis-session-store.js';

interface Watch {
  loggers: Set<Logger>;
  detach(): void;
}

// One set of listeners per client, however many stores (mounts) share it: fifty mounts on one
// borrowed client must not mean fifty listeners per event, nor fifty copies of each line.
const watches = new WeakMap<RedisClient, Watch>();

/**
 * Logs a Redis client's connection going down and coming back, once per outage (ioredis reports
 * every reconnection attempt). Returns the function that stops watching for this logger.
 *
 * `ownsErrors`: the client is ours, so its 'error' events are ours to handle (without a listener
 * they would crash the process) and their code goes in the line. A borrowed client's 'error'
 * events are left to its owner: adding a listener would change its behaviour (ioredis prints
 * "Unhandled error event" only when nobody listens), so the loss is read from 'reconnecting' and
 * 'end', which every client emits without side effects.
 *
 * @example
 * const unwatch = watchConnection(client, logger, false);
 * // later
 * unwatch();
 */
export function watchConnection(
  client: RedisClient,
  logger: Logger,
  ownsErrors: boolean,
): () => void {
  let watch = watches.get(client);
  if (watch === undefined) {
    watch = listen(client, ownsErrors);
    watches.set(client, watch);
  }
  const current = watch;
  current.loggers.add(logger);
  return () => {
    current.loggers.delete(logger);
    if (current.loggers.size === 0 && watches.get(client) === current) {
      current.detach();
      watches.delete(client);
    }
  };
}

function listen(client: RedisClient, ownsErrors: boolean): Watch {
  const loggers = new Set<Logger>();
  let down = false;
  const each = (level: 'info' | 'warn', line: string): void => {
    for (const logger of loggers) logger[level](`express-auth-proxy: ${line}`);
  };
  const lost = (reason: string): void => {
    if (down) return;
    down = true;
    each('warn', `redis connection failed (${reason}); retrying`);
  };
  const onError = (err: Error): void => {
    lost(errorLabel(err));
  };
  const onReconnecting = (): void => {
    lost('connection closed');
  };
  const onReady = (): void => {
    if (down) each('info', 'redis connection restored');
    down = false;
  };
  const onEnd = (): void => {
    if (down) each('warn', 'redis client stopped reconnecting; requests will get 503');
  };
  if (ownsErrors) client.on('error', onError);
  client.on('reconnecting', onReconnecting);
  client.on('ready', onReady);
  client.on('end', onEnd);
  return {
    loggers,
    detach() {
      if (ownsErrors) client.off('error', onError);
      client.off('reconnecting', onReconnecting);
      client.off('ready', onReady);
      client.off('end', onEnd);
    },
  };
}

function errorLabel(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err.name;
}
