import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A real redis-server on a free loopback port, owned by one test file. */
export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Starts again on the same port, after `stop()`, to test recovery from an outage. */
  start(): Promise<void>;
}

const INSTALL_HINT =
  'redis-server is not installed. Install it: `apt-get install -y redis-server` on Debian/Ubuntu, ' +
  '`brew install redis` on macOS. The tests start their own server; nothing needs to be running.';

/** A free loopback TCP port (free when asked: bind it soon). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

async function launch(port: number): Promise<ChildProcess> {
  return launchRedis([
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
}

/**
 * Runs `redis-server` with these arguments and resolves once it prints `ready` (a data node says
 * it accepts connections; a sentinel, that it monitors its master).
 */
export async function launchRedis(
  args: string[],
  ready = 'Ready to accept connections',
): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.once('error', (err) => {
      reject(new Error(INSTALL_HINT, { cause: err }));
    });
    child.once('exit', (code) => {
      reject(new Error(`redis-server exited with ${String(code)} before it was ready:\n${output}`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) resolve();
    });
  });
  child.removeAllListeners('exit');
  child.stdout.removeAllListeners('data');
  child.stdout.resume();
  child.stderr.resume();
  return child;
}

/** Starts redis-server, telling how to install it when it is missing. */
export async function startRedis(): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error !== undefined) throw new Error(INSTALL_HINT);
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port);
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    async stop() {
      if (child === undefined) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      child = undefined;
    },
    async start() {
      child ??= await launch(port);
    },
  };
}
