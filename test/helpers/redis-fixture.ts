import { after, before } from 'node:test';
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
