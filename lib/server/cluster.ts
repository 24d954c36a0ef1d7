import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import express from 'express';
import { AggregatorRegistry } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { ServerConfig } from './cli-config.js';
import { listenOn, urlOf } from './server.js';

/** The primary of `--workers N`: what the CLI waits on instead of a server of its own. */
export interface Primary {
  url: string;
  metricsUrl?: string;
  /** Passes the signal to every worker and resolves once all have exited; true if all exited 0. */
  shutdown(signal: NodeJS.Signals): Promise<boolean>;
}

// Told by a worker once its server listens (the cluster 'listening' event also fires for the
// metrics registry's nothing, and for any other listener a worker might open).
const READY = 'express-auth-proxy:ready';

/** In a worker: tells the primary that the server listens at `url`. */
export function reportReady(url: string): void {
  process.send?.({ type: READY, url });
}

/** In a worker: lets the primary collect this worker's metrics. */
export function shareMetrics(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs the worker's answer to the primary's requests.
  new AggregatorRegistry();
}

/**
 * Starts `config.workers` copies of this program (node:cluster; they parse the same flags and
 * share the listening port), serves the workers' metrics together when asked, replaces a worker
 * that dies, and stops them all on shutdown. A worker that dies before it ever listened stops the
 * whole group: the next one would only fail the same way.
 */
export async function startPrimary(config: ServerConfig, logger: Logger): Promise<Primary> {
  let stopping = false;
  let failed: ((err: Error) => void) | undefined;
  const startFailed = new Promise<never>((_resolve, reject) => {
    failed = reject;
  });
  startFailed.catch(() => undefined);
  const urls = new Map<Worker, string>();

  const fork = (): Promise<string> => {
    const worker = cluster.fork();
    return new Promise<string>((resolve, reject) => {
      worker.on('message', (message: { type?: string; url?: string }) => {
        if (message.type === READY && typeof message.url === 'string') {
          urls.set(worker, message.url);
          logger.info(`express-auth-proxy: worker ${String(worker.process.pid)} ready`);
          resolve(message.url);
        }
      });
      worker.once('exit', (code: number | null, signal: string | null) => {
        const listened = urls.delete(worker);
        if (stopping) return;
        const how = signal ?? `code ${String(code)}`;
        if (!listened) {
          const err = new Error(
            `worker ${String(worker.process.pid)} exited (${how}) before it listened`,
          );
          reject(err);
          failed?.(err);
          return;
        }
        logger.error(
          `express-auth-proxy: worker ${String(worker.process.pid)} exited (${how}); starting another`,
        );
        fork().catch(() => undefined);
      });
    });
  };

  let metricsServer: Server | undefined;
  const stopAll = async (signal: NodeJS.Signals): Promise<boolean> => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter(
      (worker): worker is Worker => worker !== undefined && worker.process.exitCode === null,
    );
    const exits = workers.map(async (worker) => {
      const exited = once(worker, 'exit') as Promise<[number | null, string | null]>;
      worker.process.kill(signal);
      const [code] = await exited;
      return code === 0;
    });
    // Each worker bounds its own drain by --shutdown-timeout; past that and a margin, it is stuck.
    const stuck = setTimeout(() => {
      logger.warn(
        'express-auth-proxy: workers still running after the shutdown timeout; killing them',
      );
      for (const worker of workers) worker.process.kill('SIGKILL');
    }, config.shutdownTimeout + 5000);
    const results = await Promise.all(exits);
    clearTimeout(stuck);
    if (metricsServer !== undefined) {
      const closed = once(metricsServer, 'close');
      metricsServer.close();
      metricsServer.closeAllConnections();
      await closed;
    }
    return results.every(Boolean);
  };

  try {
    const started = await Promise.race([
      Promise.all(Array.from({ length: config.workers }, () => fork())),
      startFailed,
    ]);
    if (typeof config.metrics === 'object') {
      const aggregator = new AggregatorRegistry();
      const app = express();
      app.disable('x-powered-by');
      app.get('/metrics', (_req, res) => {
        aggregator.clusterMetrics().then(
          (text) => {
            res.writeHead(200, {
              'content-type': aggregator.contentType,
              'cache-control': 'no-store',
            });
            res.end(text);
          },
          () => {
            res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
            res.end('metrics unavailable\n');
          },
        );
      });
      metricsServer = createServer(app);
      await listenOn(metricsServer, config.metrics.port, config.host);
    }
    return {
      url: started[0] ?? '',
      ...(metricsServer === undefined ? {} : { metricsUrl: urlOf(metricsServer) }),
      shutdown: stopAll,
    };
  } catch (err) {
    await stopAll('SIGTERM');
    throw err;
  }
}
