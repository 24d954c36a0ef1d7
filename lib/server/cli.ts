#!/usr/bin/env node
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { helpText, LOG_LEVELS, parseCli } from './cli-config.js';
import type { LogLevel } from './cli-config.js';
import type { Logger } from '../logger.js';
import { AuthProxyError } from '../errors.js';
import { RedisSessionStore } from '../sessions/redis-session-store.js';
import type { RedisTopology } from '../sessions/redis-topology.js';
import { storeDeadline } from '../sessions/store-deadline.js';
import { reportReady, shareMetrics, startPrimary } from './cluster.js';
import { startServer } from './server.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Log lines on stderr at or above `level`; stdout is left to the access log. */
function stderrLogger(level: LogLevel): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const at =
    (name: LogLevel) =>
    (...args: unknown[]): void => {
      if (LOG_LEVELS.indexOf(name) <= threshold) {
        process.stderr.write(`${new Date().toISOString()} ${name} ${args.map(String).join(' ')}\n`);
      }
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** Pings Redis once, within the configured timeout; the other checks were done by parseCli. */
async function redisProblem(
  redis: string | RedisTopology,
  timeout: number,
): Promise<string | undefined> {
  const store = new RedisSessionStore(redis, { commandTimeout: timeout });
  const flag =
    typeof redis === 'string'
      ? '--redis'
      : 'cluster' in redis
        ? '--redis-cluster'
        : '--redis-sentinel';
  try {
    await storeDeadline(timeout)(store.ping());
    return undefined;
  } catch (err) {
    const why =
      err instanceof AuthProxyError && !err.message.includes('within') ? `: ${err.message}` : '';
    return `${flag}: no answer from Redis within ${timeout} ms${why}`;
  } finally {
    await store.close();
  }
}

function reportProblems(problems: readonly string[]): void {
  process.stderr.write(
    `express-auth-proxy: invalid configuration:\n  - ${problems.join('\n  - ')}\n`,
  );
}

async function main(): Promise<number> {
  const { command, problems, warnings, checkRedis } = parseCli(
    process.argv.slice(2),
    process.env,
    (path) => readFileSync(path, 'utf8'),
  );
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  if (command === undefined) {
    const redis = checkRedis && (await redisProblem(checkRedis.redis, checkRedis.timeout));
    reportProblems(redis === undefined ? problems : [...problems, redis]);
    process.stderr.write('Run express-auth-proxy --help for usage.\n');
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const { config } = command;
  if (command.checkOnly) {
    const problem = await redisProblem(config.redis, config.redisTimeout);
    if (problem !== undefined) {
      reportProblems([problem]);
      return 1;
    }
    process.stdout.write(`configuration ok: ${config.routes.length} route(s), Redis answers\n`);
    return 0;
  }

  const logger = stderrLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) {
    const primary = await startPrimary(config, logger);
    logger.info(
      `express-auth-proxy ${version()} listening on ${primary.url} (${config.workers} workers)`,
    );
    for (const route of config.routes) logger.info(`  ${route.path} -> ${route.target}`);
    if (primary.metricsUrl !== undefined) logger.info(`  metrics on ${primary.metricsUrl}/metrics`);
    const signal = await signalled();
    logger.info(`${signal}: stopping the workers`);
    const clean = await primary.shutdown(signal);
    logger.info('stopped');
    return clean ? 0 : 1;
  }

  const worker = cluster.worker;
  const server = await startServer(
    config,
    logger,
    process.stdout,
    worker === undefined ? {} : { shareMetrics },
  );
  if (worker === undefined) {
    logger.info(`express-auth-proxy ${version()} listening on ${server.url}`);
    for (const route of config.routes) logger.info(`  ${route.path} -> ${route.target}`);
    if (server.metricsUrl !== undefined) logger.info(`  metrics on ${server.metricsUrl}/metrics`);
  } else {
    reportReady(server.url);
  }
  const signal = await signalled();
  // Shutdown first stops listening, synchronously: whoever reads this line can no longer connect.
  const stopped = server.shutdown();
  logger.info(
    `${worker === undefined ? '' : `worker ${process.pid}: `}${signal}: finishing in-flight requests`,
  );
  await stopped;
  if (worker === undefined) logger.info('stopped');
  // The channel to the primary would keep the worker alive.
  else worker.disconnect();
  return 0;
}

/**
 * The first SIGTERM or SIGINT. A worker ignores the ones after it: Ctrl-C reaches it both from
 * the terminal and through the primary.
 */
function signalled(): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((resolve) => {
    const first = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', first);
      process.off('SIGINT', first);
      if (cluster.isWorker) {
        process.on('SIGTERM', () => undefined);
        process.on('SIGINT', () => undefined);
      }
      resolve(signal);
    };
    process.on('SIGTERM', first);
    process.on('SIGINT', first);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `express-auth-proxy: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
