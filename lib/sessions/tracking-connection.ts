import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';
import { watchConnection } from './connection-watch.js';

/** The channel Redis uses for invalidation messages redirected to a RESP2 connection. */
export const INVALIDATION_CHANNEL = '__redis__:invalidate';

/** What the tracking pair reports to its owner, synchronously, in the order it learns it. */
export interface TrackingEvents {
  /** Keys that changed, or `null` when every key may have (FLUSHDB, FLUSHALL). */
  invalidate(keys: readonly Buffer[] | null): void;
  /** Tracking became exact (`true`) or stopped being so (`false`). */
  change(tracking: boolean, reason: string): void;
}

export interface TrackingConnectionOptions {
  /** Milliseconds between probes; a probe that has not come back within this time counts as lost. */
  pingInterval: number;
  logger: Logger;
  events: TrackingEvents;
}

/**
 * Two connections that together make Redis server-assisted client-side caching exact:
 * `client`, whose reads Redis tracks (`CLIENT TRACKING on REDIRECT <id>`), and a RESP2 connection
 * subscribed to `__redis__:invalidate` that receives the invalidations (ioredis drops RESP3 push
 * frames, so the RESP3 single-connection mode cannot be used).
 *
 * Tracking is reported exact only after an end-to-end probe: the data connection PUBLISHes to a
 * private channel of the subscriber, and the message must come back. That proves the two are on
 * the same server (a reconnect through Sentinel or DNS may split them) and that the subscriber
 * reads. The probe repeats every `pingInterval`, because Redis does not tell the redirect target
 * when the tracking connection dies (redis/redis#11767) and a stalled subscriber looks alive. Any
 * close, reconnect or failed probe reports `change(false)` at once.
 */
export class TrackingConnection {
  /** The tracked data connection: every read whose result may be cached goes through it. */
  readonly client: Redis;
  readonly #subscriber: Redis;
  readonly #options: TrackingConnectionOptions;
  // A nonce: only our own subscriber knows it, so a delivered probe cannot be someone else's.
  readonly #probeChannel = `express-auth-proxy:probe:${randomBytes(12).toString('hex')}`;
  #tracking = false;
  #closed = false;
  // The subscriber's CLIENT ID, known once it is subscribed on its current connection.
  #subscriberId: string | undefined;
  #subscribing = false;
  #establishing = false;
  // Bumped on every close of the connection, so that work started on an earlier one is discarded.
  #dataEpoch = 0;
  #subscriberEpoch = 0;
  #probeSent = 0;
  #probeSeen = 0;
  #probing = false;
  readonly #probeWaiters = new Map<number, () => void>();
  readonly #timer: NodeJS.Timeout;
  readonly #warned = new Set<string>();
  readonly #unwatch: () => void;

  /**
   * @param connection how to reach Redis: a URL, or the options of a client whose server we share.
   * @param clientOptions settings for both connections (timeouts, retry strategy).
   */
  constructor(
    connection: string | RedisOptions,
    clientOptions: RedisOptions,
    options: TrackingConnectionOptions,
  ) {
    this.#options = options;
    const base =
      typeof connection === 'string' ? clientOptions : { ...connection, ...clientOptions };
    const name = base.connectionName ?? 'express-auth-proxy';
    const open = (extra: RedisOptions): Redis =>
      typeof connection === 'string'
        ? new Redis(connection, { ...base, ...extra })
        : new Redis({ ...base, ...extra });
    this.client = open({ connectionName: `${name}:session-cache`, lazyConnect: false });
    this.#subscriber = open({
      connectionName: `${name}:invalidations`,
      lazyConnect: false,
      protocol: 2,
      // We subscribe ourselves on every connect: the CLIENT ID must be read before subscribing.
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      enableAutoPipelining: false,
    });

    // The data connection's outages are logged like any store connection's; the subscriber's
    // show as the cache going off. Both need an 'error' listener or ioredis would throw.
    this.#unwatch = watchConnection(this.client, options.logger, true);
    this.#subscriber.on('error', () => undefined);
    this.client.on('close', () => {
      this.#dataEpoch += 1;
      this.#lose('data connection closed');
    });
    this.client.on('ready', () => {
      void this.#establish();
    });
    this.#subscriber.on('close', () => {
      this.#subscriberEpoch += 1;
      this.#subscriberId = undefined;
      this.#lose('invalidation connection closed');
    });
    this.#subscriber.on('ready', () => {
      void this.#subscribe();
    });
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: unknown) => {
      this.#onMessage(channel, message);
    });

    this.#timer = setInterval(() => {
      this.#tick();
    }, options.pingInterval);
    this.#timer.unref();
  }

  /** True while every change to a key read through `client` is known to reach us. */
  get tracking(): boolean {
    return this.#tracking;
  }

  /** Stops probing and closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unwatch();
    this.#tracking = false;
    await Promise.all([quit(this.client), quit(this.#subscriber)]);
  }

  #onMessage(channel: Buffer, message: unknown): void {
    const name = channel.toString();
    if (name === INVALIDATION_CHANNEL) {
      if (message === null) this.#options.events.invalidate(null);
      else if (Array.isArray(message)) this.#options.events.invalidate(message as Buffer[]);
      else if (Buffer.isBuffer(message)) this.#options.events.invalidate([message]);
      return;
    }
    if (name === this.#probeChannel && Buffer.isBuffer(message)) {
      const seq = Number(message.toString());
      if (seq > this.#probeSeen) this.#probeSeen = seq;
      for (const [waiting, resolve] of this.#probeWaiters) {
        if (waiting <= this.#probeSeen) resolve();
      }
    }
  }

  #lose(reason: string): void {
    if (!this.#tracking) return;
    this.#tracking = false;
    this.#options.logger.warn(
      `express-auth-proxy: session cache off until tracking is re-established (${reason})`,
    );
    this.#options.events.change(false, reason);
  }

  async #subscribe(): Promise<void> {
    if (this.#closed || this.#subscribing) return;
    this.#subscribing = true;
    const epoch = this.#subscriberEpoch;
    try {
      const id = await this.#subscriber.call('CLIENT', 'ID');
      await this.#subscriber.subscribe(INVALIDATION_CHANNEL, this.#probeChannel);
      if (epoch !== this.#subscriberEpoch) return;
      this.#subscriberId = String(id);
    } catch (err) {
      this.#warnOnce('subscribe', `could not subscribe to ${INVALIDATION_CHANNEL}`, err);
      return;
    } finally {
      this.#subscribing = false;
    }
    await this.#establish();
  }

  async #establish(): Promise<void> {
    const subscriberId = this.#subscriberId;
    if (
      this.#closed ||
      this.#tracking ||
      this.#establishing ||
      subscriberId === undefined ||
      this.client.status !== 'ready'
    ) {
      return;
    }
    this.#establishing = true;
    const dataEpoch = this.#dataEpoch;
    const subscriberEpoch = this.#subscriberEpoch;
    try {
      // Issued again after every reconnect of either side: a new data connection has no tracking,
      // a new subscriber has a new id. ON with another REDIRECT replaces the previous target.
      await this.client.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', subscriberId);
      await this.#probe();
    } catch (err) {
      this.#warnOnce('tracking', 'could not enable CLIENT TRACKING (Redis >= 6 is needed)', err);
      return;
    } finally {
      this.#establishing = false;
    }
    // Either connection may have closed (and come back) while we waited: start again then.
    if (!this.#unchanged(dataEpoch, subscriberEpoch, subscriberId)) return;
    this.#tracking = true;
    this.#warned.clear();
    this.#options.logger.info('express-auth-proxy: session cache tracking established');
    this.#options.events.change(true, 'tracking established');
  }

  #unchanged(dataEpoch: number, subscriberEpoch: number, subscriberId: string): boolean {
    return (
      !this.#closed &&
      dataEpoch === this.#dataEpoch &&
      subscriberEpoch === this.#subscriberEpoch &&
      subscriberId === this.#subscriberId
    );
  }

  /** Resolves once a message published on the data connection reached the subscriber. */
  #probe(): Promise<void> {
    const seq = ++this.#probeSent;
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        if (!this.#probeWaiters.delete(seq)) return;
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      const timer = setTimeout(() => {
        done(new Error(`probe not delivered within ${this.#options.pingInterval} ms`));
      }, this.#options.pingInterval);
      this.#probeWaiters.set(seq, () => {
        done();
      });
      this.client.publish(this.#probeChannel, String(seq)).then(
        (receivers) => {
          if (receivers === 0) done(new Error('the invalidation connection is not on this server'));
        },
        (err: unknown) => {
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  #tick(): void {
    if (this.#closed) return;
    if (this.#tracking) {
      if (this.#probing) return;
      this.#probing = true;
      this.#probe()
        .catch((err: unknown) => {
          this.#lose(`probe failed: ${message(err)}`);
          // A stalled subscriber would never recover by itself: start it on a fresh connection.
          this.#subscriber.disconnect(true);
        })
        .finally(() => {
          this.#probing = false;
        });
      return;
    }
    if (this.#subscriberId !== undefined) {
      void this.#establish();
    } else if (this.#subscriber.status === 'ready' && !this.#subscribing) {
      // A failed or half-done subscription: start over on a fresh connection.
      this.#subscriber.disconnect(true);
    }
  }

  #warnOnce(kind: string, what: string, err: unknown): void {
    if (this.#closed || this.#warned.has(kind)) return;
    this.#warned.add(kind);
    this.#options.logger.warn(
      `express-auth-proxy: session cache ${what}: ${message(err)}; the cache is bypassed`,
    );
  }
}

async function quit(client: Redis): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
