import { after, before } from 'node:test';
import { startBackend } from './backend.js';
import type { Backend } from './backend.js';
import { startRedis } from './redis-server.js';
import type { RedisServer } from './redis-server.js';

/**
 * The redis-server of a test file: started before its first test and stopped after its last
 * (node:test hooks, registered where this is called). Its fields read the running server.
 *
 * @example
 * const redisServer = useRedisServer();
 * it('reads a session', async () => { const client = new Redis(redisServer.url); ... });
 */
export function useRedisServer(): RedisServer {
  const running = fileFixture('useRedisServer', startRedis, (server) => server.stop());
  return {
    get port() {
      return running().port;
    },
    get url() {
      return running().url;
    },
    stop: () => running().stop(),
    start: () => running().start(),
  };
}

/**
 * The recording backend of a test file (see `startBackend`): started before its first test and
 * closed after its last. Its fields read the running backend.
 *
 * @example
 * const backend = useBackend();
 * it('forwards', async () => { ...; assert.equal(backend.seen.length, 1); });
 */
export function useBackend(): Backend {
  const running = fileFixture(
    'useBackend',
    () => startBackend(),
    (backend) => backend.close(),
  );
  return {
    get url() {
      return running().url;
    },
    get seen() {
      return running().seen;
    },
    get server() {
      return running().server;
    },
    close: () => running().close(),
  };
}

// Starts a resource before the file's first test and stops it after its last; the function
// returned reads the running resource (and says who read it too early).
function fileFixture<T>(
  name: string,
  start: () => Promise<T>,
  stop: (resource: T) => Promise<unknown>,
): () => T {
  let resource: T | undefined;
  before(async () => {
    resource = await start();
  });
  after(async () => {
    if (resource !== undefined) await stop(resource);
  });
  return () => {
    if (resource === undefined) throw new Error(`${name}: read before the file started`);
    return resource;
  };
}
