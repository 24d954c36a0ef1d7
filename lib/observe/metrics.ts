import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Request, RequestHandler, Response } from 'express';
import type { Plugin } from 'http-proxy-middleware';
import type { Counter, Histogram, Registry } from 'prom-client';
import type { AuthProxyError } from '../errors.js';
import type { Responder } from '../chain/respond.js';
import { upgradeOf } from '../chain/scope.js';
import type { StoreDeadline } from '../sessions/store-deadline.js';

// prom-client is loaded by the first createMetrics() or metricsHandler(), not by importing this
// package: a mount without metrics then does not carry it (about 0.6 MB of live heap, which V8's
// heap sizing multiplies under load).
let promClient: typeof import('prom-client') | undefined;
function prom(): typeof import('prom-client') {
  promClient ??= createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  return promClient;
}

export interface MetricsOptions {
  /**
   * Where the metrics are registered. Default: a registry of their own, so that prom-client's
   * global `register` is left alone; pass `register` from prom-client to put them there.
   */
  registry?: Registry;
  /** Prepended to every metric name. Default `express_auth_proxy_`. */
  prefix?: string;
  /** Histogram buckets, in seconds. Default 0.5 ms to 10 s. */
  buckets?: number[];
}

/** The metrics of every mount, and the handle that labels one mount's. */
export interface ProxyMetrics {
  readonly registry: Registry;
  /**
   * The metrics of one mount, labelled `mount="<name>"`, for `authProxy`'s `metrics` option. The
   * name is the caller's: keep it fixed (a mount path, a service name), never per request.
   */
  mount(name: string): MountMetrics;
}

const MOUNT_METRICS = Symbol('express-auth-proxy.mount-metrics');

/** One mount's handle on the metrics; opaque, made by `ProxyMetrics.mount()`. */
export interface MountMetrics {
  readonly [MOUNT_METRICS]: MountHooks;
}

/** What a store with a cache reports (the session cache). */
export interface CacheCounts {
  readonly hits: number;
  readonly misses: number;
}

// Entry and decision times of one request (only while metrics are on), beside the request rather
// than on it, for the reason given in chain/scope.ts.
interface Timing {
  start: number;
  decidedAt: number;
  counted: boolean;
}
const timings = new WeakMap<IncomingMessage, Timing>();

const DEFAULT_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];
const MOUNT_NAME = /^[\x21-\x7e]{1,100}$/;

/**
 * Prometheus metrics for `authProxy` mounts, with prom-client. Label values are bounded: mount
 * names given here, error codes, status classes; never a sid, path or user.
 *
 * @example
 * const metrics = createMetrics();
 * app.use('/mail', authProxy({ target, jwtKey, redis, metrics: metrics.mount('/mail') }));
 * app.get('/metrics', metricsHandler(metrics));
 */
export function createMetrics(options: MetricsOptions = {}): ProxyMetrics {
  const { Counter, Gauge, Histogram, Registry } = prom();
  const registry = options.registry ?? new Registry();
  if (!(registry instanceof Registry)) {
    throw new TypeError('express-auth-proxy: metrics registry must be a prom-client Registry');
  }
  const prefix = options.prefix ?? 'express_auth_proxy_';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
    throw new TypeError('express-auth-proxy: metrics prefix must be a Prometheus name prefix');
  }
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  const registers = [registry];
  const webSockets = new Map<string, Set<() => number>>();
  const caches = new Set<CacheCounts>();
  const sum = (read: (counts: CacheCounts) => number): number => {
    let total = 0;
    for (const cache of caches) total += read(cache);
    return total;
  };

  const family: Families = {
    requests: new Counter({
      name: `${prefix}requests_total`,
      help: 'Requests answered by a mount, by outcome: OK (proxied) or the refusal code',
      labelNames: ['mount', 'code'] as const,
      registers,
    }),
    decision: new Histogram({
      name: `${prefix}auth_decision_seconds`,
      help: 'Time from a request entering the mount to its authentication decision',
      labelNames: ['mount', 'outcome'] as const,
      buckets,
      registers,
    }),
    lookup: new Histogram({
      name: `${prefix}store_lookup_seconds`,
      help: 'Session lookups in the store (or its cache), successful or not',
      labelNames: ['mount'] as const,
      buckets,
      registers,
    }),
    lookupErrors: new Counter({
      name: `${prefix}store_errors_total`,
      help: 'Session lookups that failed, by error code',
      labelNames: ['mount', 'code'] as const,
      registers,
    }),
    upstream: new Histogram({
      name: `${prefix}upstream_seconds`,
      help: "Time from the decision to the backend's response head, by status class (error: no response)",
      labelNames: ['mount', 'status_class'] as const,
      buckets,
      registers,
    }),
  };
  new Gauge({
    name: `${prefix}websockets_open`,
    help: 'WebSockets open through a mount',
    labelNames: ['mount'] as const,
    registers,
    collect() {
      for (const [mount, readers] of webSockets) {
        let open = 0;
        for (const read of readers) open += read();
        this.set({ mount }, open);
      }
    },
  });
  new Counter({
    name: `${prefix}session_cache_hits_total`,
    help: 'Session lookups answered from the session cache',
    registers,
    collect() {
      this.reset();
      this.inc(sum((counts) => counts.hits));
    },
  });
  new Counter({
    name: `${prefix}session_cache_misses_total`,
    help: 'Session lookups the session cache passed on to Redis',
    registers,
    collect() {
      this.reset();
      this.inc(sum((counts) => counts.misses));
    },
  });

  return {
    registry,
    mount(name: string): MountMetrics {
      if (typeof name !== 'string' || !MOUNT_NAME.test(name)) {
        throw new TypeError(
          'express-auth-proxy: a metrics mount name is 1 to 100 printable ASCII characters',
        );
      }
      return {
        [MOUNT_METRICS]: new MountHooks(name, family, {
          webSockets: (read) => {
            const readers = webSockets.get(name) ?? new Set();
            webSockets.set(name, readers.add(read));
            return () => readers.delete(read);
          },
          cache: (counts) => {
            caches.add(counts);
            return () => caches.delete(counts);
          },
        }),
      };
    },
  };
}

/** The metrics handle of an option value, or undefined when it is not one. */
export function hooksOf(value: unknown): MountHooks | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const hooks = (value as Partial<MountMetrics>)[MOUNT_METRICS];
  return hooks instanceof MountHooks ? hooks : undefined;
}

interface Families {
  requests: Counter<'mount' | 'code'>;
  decision: Histogram<'mount' | 'outcome'>;
  lookup: Histogram<'mount'>;
  lookupErrors: Counter<'mount' | 'code'>;
  upstream: Histogram<'mount' | 'status_class'>;
}

interface Watches {
  webSockets(read: () => number): () => void;
  cache(counts: CacheCounts): () => void;
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * One mount's measuring points, wired by `authProxy` only when its `metrics` option is set, so
 * that a mount without metrics does no work for them. Children of the label sets are bound once:
 * observing then costs no label lookup.
 */
export class MountHooks {
  readonly #requests = new Map<string, Counter.Internal>();
  readonly #errors = new Map<string, Counter.Internal>();
  readonly #family: Families;
  readonly #mount: string;
  readonly #allowed: Histogram.Internal<string>;
  readonly #refused: Histogram.Internal<string>;
  readonly #lookup: Histogram.Internal<string>;
  readonly #upstream: Histogram.Internal<string>[];
  readonly #upstreamError: Histogram.Internal<string>;
  readonly #watches: Watches;
  readonly #unwatch: (() => void)[] = [];

  constructor(mount: string, family: Families, watches: Watches) {
    this.#mount = mount;
    this.#family = family;
    this.#watches = watches;
    this.#allowed = family.decision.labels({ mount, outcome: 'allowed' });
    this.#refused = family.decision.labels({ mount, outcome: 'refused' });
    this.#lookup = family.lookup.labels({ mount });
    this.#upstream = STATUS_CLASSES.map((c) => family.upstream.labels({ mount, status_class: c }));
    this.#upstreamError = family.upstream.labels({ mount, status_class: 'error' });
    // Present from the start, at 0, so that rates over it are defined before the first request.
    this.#count('OK').inc(0);
  }

  /** First stage of the chain: the request's clock starts. */
  readonly enter: RequestHandler = (req, _res, next) => {
    timings.set(req, { start: performance.now(), decidedAt: 0, counted: false });
    next();
  };

  /** Stage just before the proxy: the request was allowed. */
  readonly allowed: RequestHandler = (req, _res, next) => {
    const timing = timings.get(req);
    if (timing !== undefined) {
      timing.decidedAt = performance.now();
      this.#allowed.observe((timing.decidedAt - timing.start) / 1000);
      // A handshake the backend accepts has no response head through http-proxy's web path.
      if (upgradeOf(req) !== undefined) this.#outcome(timing, 'OK');
    }
    next();
  };

  /** The responder, counting each refusal (and timing it, when it is the decision). */
  refusals(respond: Responder): Responder {
    return (error: AuthProxyError, req: IncomingMessage, res: ServerResponse): void => {
      const timing = timings.get(req);
      if (timing === undefined) {
        this.#count(error.code).inc();
      } else {
        if (timing.decidedAt === 0) {
          this.#refused.observe((performance.now() - timing.start) / 1000);
        }
        this.#outcome(timing, error.code);
      }
      respond(error, req, res);
    };
  }

  /** The session lookups' deadline, timed and counting failures. */
  lookups(within: StoreDeadline): StoreDeadline {
    const lookup = this.#lookup;
    return <T>(call: Promise<T>): Promise<T> => {
      const started = performance.now();
      return within(call).then(
        (value) => {
          lookup.observe((performance.now() - started) / 1000);
          return value;
        },
        (err: unknown) => {
          lookup.observe((performance.now() - started) / 1000);
          this.#error((err as Partial<AuthProxyError>).code ?? 'ERR_STORE_UNAVAILABLE').inc();
          throw err;
        },
      );
    };
  }

  /** An http-proxy-middleware plugin timing the backend's answers. */
  readonly upstream: Plugin = (proxyServer) => {
    proxyServer.on('proxyRes', (proxyRes: IncomingMessage, req: IncomingMessage) => {
      const timing = timings.get(req);
      if (timing === undefined || timing.decidedAt === 0) return;
      const status = proxyRes.statusCode ?? 0;
      const child = this.#upstream[Math.floor(status / 100) - 1] ?? this.#upstreamError;
      child.observe((performance.now() - timing.decidedAt) / 1000);
      // A login-box challenge was already turned into a refusal, and counted, by then.
      this.#outcome(timing, 'OK');
    });
    proxyServer.on('error', (_err: Error, req: IncomingMessage) => {
      const timing = timings.get(req);
      if (timing === undefined || timing.decidedAt === 0) return;
      this.#upstreamError.observe((performance.now() - timing.decidedAt) / 1000);
    });
  };

  /** Reports the mount's open WebSockets and its store's cache counts until `close()`. */
  watch(webSockets: () => number, cache: CacheCounts | undefined): void {
    this.#unwatch.push(this.#watches.webSockets(webSockets));
    if (cache !== undefined) this.#unwatch.push(this.#watches.cache(cache));
  }

  close(): void {
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
  }

  #outcome(timing: Timing, code: string): void {
    if (timing.counted) return;
    timing.counted = true;
    this.#count(code).inc();
  }

  #count(code: string): Counter.Internal {
    let child = this.#requests.get(code);
    if (child === undefined) {
      child = this.#family.requests.labels({ mount: this.#mount, code });
      this.#requests.set(code, child);
    }
    return child;
  }

  #error(code: string): Counter.Internal {
    let child = this.#errors.get(code);
    if (child === undefined) {
      child = this.#family.lookupErrors.labels({ mount: this.#mount, code });
      this.#errors.set(code, child);
    }
    return child;
  }
}

/**
 * An Express handler answering the metrics in Prometheus's text format, for `GET /metrics`.
 *
 * @example
 * const metrics = createMetrics();
 * app.get('/metrics', metricsHandler(metrics));
 */
export function metricsHandler(source: ProxyMetrics | Registry): RequestHandler {
  const { Registry } = prom();
  const registry = source instanceof Registry ? source : source.registry;
  if (!(registry instanceof Registry)) {
    throw new TypeError('express-auth-proxy: metricsHandler takes createMetrics() or a Registry');
  }
  return function metricsEndpoint(_req: Request, res: Response): void {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('metrics unavailable\n');
      },
    );
  };
}
