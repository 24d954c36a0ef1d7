import { AuthProxyError, toAuthProxyError } from '../errors.js';

/**
 * Bounds a store call in time: settles as the call does, or rejects at the deadline. Rejections
 * are `AuthProxyError`s: the store's own (`ERR_SESSION_MALFORMED`...) pass through, anything else
 * becomes `ERR_STORE_UNAVAILABLE`.
 */
export type StoreDeadline = <T>(call: Promise<T>) => Promise<T>;

/**
 * A deadline of `ms` for store calls, whatever the store. A client's own timeouts do not cover
 * every case (an ioredis Cluster queues commands without a timer while all its nodes are down; a
 * custom store may never settle), so the caller gets `ERR_STORE_UNAVAILABLE` at the deadline and
 * the late answer is dropped. One timer per call: Node keeps timers of equal duration in one
 * list, so arming and clearing one costs a few hundred nanoseconds.
 *
 * @example
 * const within = storeDeadline(1000);
 * const session = await within(store.get(sid));
 */
export function storeDeadline(ms: number): StoreDeadline {
  const message = `session store did not answer within ${ms} ms`;
  return function withinDeadline<T>(call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new AuthProxyError('ERR_STORE_UNAVAILABLE', message));
      }, ms);
      call.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(toAuthProxyError(err, 'ERR_STORE_UNAVAILABLE', 'session store failed'));
        },
      );
    });
  };
}
