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
  let server: RedisServer | undefined;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.stop();
  });
  const running = (): RedisServer => {
    if (server === undefined) throw new Error('useRedisServer: read before the file started');
    return server;
  };
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
  let backend: Backend | undefined;
  before(async () => {
    backend = await startBackend();
  });
  after(async () => {
    await backend?.close();
  });
  const running = (): Backend => {
    if (backend === undefined) throw new Error('useBackend: read before the file started');
    return backend;
  };
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
