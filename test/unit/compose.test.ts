import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import express5 from 'express';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import express4 from 'express4';
import { compose } from '../../lib/chain/compose.js';
import type { Stage } from '../../lib/chain/compose.js';
import { close, listen, request } from '../helpers/http.js';

function trace(req: unknown): string[] {
  return (req as { trace: string[] }).trace;
}

// Each stage writes its name into the request's trace; the app answers with the trace.
function stage(
  name: string,
  act: (next: (err?: unknown) => void) => unknown = (n) => {
    n();
  },
): Stage {
  const handler: RequestHandler = (req, _res, next) => {
    trace(req).push(name);
    return act(next);
  };
  return handler;
}

function errorStage(name: string, act?: (err: unknown, next: () => void) => void): Stage {
  const handler: ErrorRequestHandler = (err, req, _res, next) => {
    trace(req).push(`${name}(${(err as Error).message})`);
    if (act === undefined) next(err);
    else
      act(err, () => {
        next();
      });
  };
  return handler;
}

async function run(express: typeof express5, stages: Stage[]): Promise<string> {
  const app = express();
  app.use((req, _res, next) => {
    (req as unknown as { trace: string[] }).trace = [];
    next();
  });
  app.use(compose(stages));
  app.use((req, res) => {
    res.send(`done:${trace(req).join(',')}`);
  });
  const final: ErrorRequestHandler = (err, req, res, _next) => {
    res.send(`failed(${(err as Error).message}):${trace(req).join(',')}`);
  };
  app.use(final);
  const server = createServer(app);
  const url = await listen(server);
  try {
    return (await request(`${url}/x`)).body;
  } finally {
    await close(server);
  }
}

const boom = new Error('boom');

for (const [version, express] of [
  ['Express 5', express5],
  ['Express 4', express4],
] as const) {
  describe(`compose, inside ${version}`, () => {
    it('runs the stages in order and hands on to the application', async () => {
      assert.equal(await run(express, [stage('a'), stage('b')]), 'done:a,b');
    });

    it('skips error handlers while nothing failed', async () => {
      assert.equal(await run(express, [stage('a'), errorStage('e'), stage('b')]), 'done:a,b');
    });

    it('sends next(err) past the remaining stages to the next error handler', async () => {
      const stages = [
        stage('a', (next) => {
          next(boom);
        }),
        stage('b'),
        errorStage('e'),
        stage('c'),
      ];
      assert.equal(await run(express, stages), 'failed(boom):a,e(boom)');
    });

    it('treats a throw as next(err)', async () => {
      const stages = [
        stage('a', () => {
          throw boom;
        }),
        stage('b'),
        errorStage('e', (_err, next) => {
          next();
        }),
        stage('c'),
      ];
      // An error handler that calls next() without an error resumes the ordinary stages.
      assert.equal(await run(express, stages), 'done:a,e(boom),c');
    });

    it('treats a rejected promise as next(err), also where Express 4 would not', async () => {
      const stages = [stage('a', () => Promise.reject(boom)), stage('b'), errorStage('e')];
      assert.equal(await run(express, stages), 'failed(boom):a,e(boom)');
    });

    it('continues after an asynchronous next()', async () => {
      const stages = [stage('a', (next) => setImmediate(next)), stage('b')];
      assert.equal(await run(express, stages), 'done:a,b');
    });
  });
}
