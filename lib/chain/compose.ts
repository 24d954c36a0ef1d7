import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';

/** A stage of the chain: a middleware, or an error handler (four parameters, as in Express). */
export type Stage = RequestHandler | ErrorRequestHandler;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Runs stages in order, the way an Express router runs middleware, without the router's
 * per-request matching: `next(err)` skips to the next error handler, a throw or a rejected promise
 * counts as `next(err)` (on Express 4 as on 5), and whatever the last stage passes on goes to
 * `done`. The chain has no paths and never uses `next('route')`.
 *
 * @example
 * app.use('/mail', compose([checkRequest, verifyToken, proxy, failure]));
 */
export function compose(stages: readonly Stage[]): RequestHandler {
  return function authProxyChain(req: Request, res: Response, done: NextFunction): void {
    let index = 0;
    const next = (err?: unknown): void => {
      const failed = err !== undefined && err !== null;
      while (index < stages.length) {
        const stage = stages[index++] as Stage;
        // Express tells error handlers apart by their arity.
        if (failed !== (stage.length === 4)) continue;
        try {
          const result: unknown = failed
            ? (stage as ErrorRequestHandler)(err, req, res, next)
            : (stage as RequestHandler)(req, res, next);
          if (isThenable(result)) {
            result.then(undefined, (reason: unknown) => {
              next(reason ?? new Error('stage rejected without a reason'));
            });
          }
        } catch (thrown) {
          next(thrown);
        }
        return;
      }
      done(err);
    };
    next();
  };
}
