import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';

export interface Sample {
  /** performance.now() when the request was sent and when its answer ended. */
  sentAt: number;
  doneAt: number;
  /** 0 when the request got no answer within the client's own limit (a hang). */
  status: number;
}

export interface Traffic {
  readonly samples: Sample[];
  /** Resolves once a sample matching `predicate` has been recorded. */
  until(predicate: (sample: Sample) => boolean): Promise<Sample>;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/**
 * Steady traffic: `concurrency` loops, each sending the next GET as soon as the previous one is
 * answered, recording every answer. A request that gets nothing within `hangAfterMs` is recorded
 * with status 0 and abandoned, so a hang shows as a sample instead of stalling the test.
 */
export function steadyTraffic(
  url: string,
  headers: Record<string, string>,
  { concurrency = 4, hangAfterMs = 10_000 } = {},
): Traffic {
  const samples: Sample[] = [];
  const waiters: { predicate: (s: Sample) => boolean; resolve: (s: Sample) => void }[] = [];
  let running = true;
  const record = (sample: Sample): void => {
    samples.push(sample);
    for (const waiter of waiters.splice(0)) {
      if (waiter.predicate(sample)) waiter.resolve(sample);
      else waiters.push(waiter);
    }
  };
  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const sentAt = performance.now();
      const done = (status: number): void => {
        record({ sentAt, doneAt: performance.now(), status });
        resolve();
      };
      const req = httpRequest(url, { headers, agent: false, timeout: hangAfterMs });
      req.on('timeout', () => {
        req.destroy();
      });
      req.on('error', () => {
        done(0);
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          done(res.statusCode ?? 0);
        });
      });
      req.end();
    });
  const loop = async (): Promise<void> => {
    while (running) await once();
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    samples,
    until(predicate) {
      const found = samples.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** `promise`, or a failure naming `what` after `ms`: a wait that may not end must be bounded. */
export async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: nothing after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

// What "within the store timeout" allows for on a machine shared with other test runs: scheduling
// delays, not a hang (the hangs this guards against lasted 18 s).
const MARGIN_MS = 1500;

export interface Outage {
  /** When the first 200 sent after the last 503 was answered. */
  recoveredAt: number;
  unavailable: number;
  slowest: number;
}

/**
 * Checks the traffic of an outage that began at `at`: every answer a 200 or a 503, each within
 * `storeTimeout` (plus scheduling margin), none missing, and service back afterwards.
 */
export function checkOutage(samples: readonly Sample[], at: number, storeTimeout: number): Outage {
  let slowest = 0;
  let lastUnavailable = at;
  let unavailable = 0;
  for (const sample of samples) {
    assert.ok(
      sample.status === 200 || sample.status === 503,
      `an answer was ${sample.status === 0 ? 'missing (hang or reset)' : String(sample.status)}`,
    );
    const took = sample.doneAt - sample.sentAt;
    slowest = Math.max(slowest, took);
    assert.ok(took < storeTimeout + MARGIN_MS, `an answer took ${took.toFixed(0)} ms`);
    if (sample.status === 503) {
      unavailable += 1;
      lastUnavailable = Math.max(lastUnavailable, sample.doneAt);
    }
  }
  const recovered = samples.find((s) => s.status === 200 && s.sentAt > lastUnavailable);
  assert.ok(recovered !== undefined, 'no 200 after the last 503');
  return { recoveredAt: recovered.doneAt, unavailable, slowest };
}
