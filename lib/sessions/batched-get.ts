// Not the global: a test's fake timers (which replace globalThis.setImmediate) must not hold reads.
import { setImmediate } from 'node:timers';
import { Command } from 'ioredis';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

// One reply stays a modest buffer, and one slow batch never holds thousands of requests.
const MAX_KEYS = 256;
// The command itself, not one of its keys, is what an ACL or a Redis-speaking proxy turned down.
const REFUSED_COMMAND = /^(NOPERM .*'mget' command|ERR unknown command|ERR unsupported command)/i;
// Any refusal by an ACL, of the command or of one of its keys: each GET then gets its own answer.
const REFUSED = /^(NOPERM |ERR unknown command|ERR unsupported command)/i;

interface Read<T> {
  key: string;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

/**
 * Reads string keys of one Redis node, coalescing the reads of one event-loop turn into one
 * `MGET` (a lone read stays a `GET`). ioredis's auto-pipelining already shares the socket write,
 * but still builds a command, a promise, a callback and a tick per key; under load the reads of a
 * turn are dozens, and one `MGET` costs about what one `GET` does.
 *
 * Every read still reaches Redis after it was asked for: the batch leaves in the `setImmediate`
 * after the turn that filled it, so no answer is older than the request that needs it. `MGET`
 * answers nil both for a missing key and for a key of another type, where `GET` fails with
 * WRONGTYPE: the nils are asked again with `GET`s (pipelined: one write), so a read means the same
 * in a batch as alone. When an ACL refuses one of an `MGET`'s keys, its reads are asked again the
 * same way; when it refuses the command itself (or Redis does not know it), they are too, and
 * later batches go as pipelined `GET`s from the start, said once to `logger`. Any other error
 * fails every read of the batch.
 *
 * @example
 * const reads = new BatchedGet(redis, (raw) => raw ?? 'none', (cause) => new Error('down', { cause }), console);
 * const [a, b] = await Promise.all([reads.get('k1'), reads.get('k2')]); // one MGET
 */
export class BatchedGet<T> {
  readonly #client: Redis;
  readonly #decode: (raw: string | null) => T;
  readonly #failure: (cause: unknown) => unknown;
  // The client's own prefix, applied as its get() would: the commands are built here.
  readonly #commandOptions: { replyEncoding: 'utf8'; keyPrefix?: string };
  readonly #logger: Logger;
  #pending: Read<T>[] = [];
  #mgetRefused = false;

  /**
   * @param decode turns a value (null: no such key) into the result; what it throws rejects that
   *   read alone.
   * @param failure turns a command's failure into the rejection of each read it carried.
   */
  constructor(
    client: Redis,
    decode: (raw: string | null) => T,
    failure: (cause: unknown) => unknown,
    logger: Logger,
  ) {
    this.#client = client;
    this.#decode = decode;
    this.#failure = failure;
    this.#logger = logger;
    const keyPrefix = (client.options as { keyPrefix?: string } | undefined)?.keyPrefix;
    this.#commandOptions =
      keyPrefix === undefined || keyPrefix === ''
        ? { replyEncoding: 'utf8' }
        : { replyEncoding: 'utf8', keyPrefix };
  }

  get(key: string): Promise<T> {
    if (this.#pending.length === 0) setImmediate(this.#flush);
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ key, resolve, reject });
    });
  }

  readonly #flush = (): void => {
    const pending = this.#pending;
    this.#pending = [];
    for (let start = 0; start < pending.length; start += MAX_KEYS) {
      const reads = pending.slice(start, start + MAX_KEYS);
      if (reads.length > 1 && !this.#mgetRefused) this.#getMany(reads);
      else this.#getEach(reads);
    }
  };

  #getMany(reads: Read<T>[]): void {
    let reply: Promise<unknown>;
    try {
      reply = this.#send(
        'mget',
        reads.map((read) => read.key),
      );
    } catch (cause) {
      // A client that throws instead of rejecting still fails these reads, and only these.
      this.#fail(reads, cause);
      return;
    }
    reply.then(
      (values) => {
        if (!Array.isArray(values)) {
          this.#fail(reads, new Error('MGET answered something else than an array'));
          return;
        }
        const list = values as (string | null)[];
        const nils: Read<T>[] = [];
        reads.forEach((read, i) => {
          const raw = list[i] ?? null;
          if (raw === null) nils.push(read);
          else this.#settle(read, raw);
        });
        if (nils.length > 0) this.#getEach(nils);
      },
      (cause: unknown) => {
        // By name: a borrowed client may come from another copy of ioredis.
        const message = cause instanceof Error && cause.name === 'ReplyError' ? cause.message : '';
        if (!REFUSED.test(message)) {
          // Down, loading, failing over: every GET would meet the same answer.
          this.#fail(reads, cause);
          return;
        }
        if (!this.#mgetRefused && REFUSED_COMMAND.test(message)) {
          this.#mgetRefused = true;
          this.#logger.warn(
            `express-auth-proxy: Redis refuses MGET (${message.split(' ')[0] ?? ''}): session reads go as pipelined GETs until the process restarts`,
          );
        }
        this.#getEach(reads);
      },
    );
  }

  // Each read with a GET of its own, so that each gets its own answer (WRONGTYPE included).
  #getEach(reads: Read<T>[]): void {
    try {
      this.#sendEach(reads);
    } catch (cause) {
      this.#fail(reads, cause);
    }
  }

  #sendEach(reads: Read<T>[]): void {
    const [first] = reads;
    if (reads.length === 1 && first !== undefined) {
      this.#send('get', [first.key]).then(
        (raw) => {
          this.#settle(first, raw as string | null);
        },
        (cause: unknown) => {
          this.#fail(reads, cause);
        },
      );
      return;
    }
    // A pipeline of the client: its keyPrefix applies, and the GETs leave in one write.
    const pipeline = this.#client.pipeline();
    for (const read of reads) pipeline.get(read.key);
    pipeline.exec().then(
      (results) => {
        reads.forEach((read, i) => {
          const [err, raw] = results?.[i] ?? [new Error('no reply in the pipeline')];
          if (err === null) this.#settle(read, raw as string | null);
          else read.reject(this.#failure(err));
        });
      },
      (cause: unknown) => {
        this.#fail(reads, cause);
      },
    );
  }

  #fail(reads: Read<T>[], cause: unknown): void {
    for (const read of reads) read.reject(this.#failure(cause));
  }

  #settle(read: Read<T>, raw: string | null): void {
    let value: T;
    try {
      value = this.#decode(raw);
    } catch (err) {
      read.reject(err);
      return;
    }
    read.resolve(value);
  }

  // Straight to the connection: auto-pipelining would hold the batch for one more turn.
  #send(name: 'get' | 'mget', keys: string[]): Promise<unknown> {
    return this.#client.sendCommand(
      new Command(name, keys, this.#commandOptions),
    ) as Promise<unknown>;
  }
}
