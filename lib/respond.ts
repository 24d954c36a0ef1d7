import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import type { AuthProxyError } from './errors.js';
import { sidHash } from './logger.js';
import type { Logger } from './logger.js';
import type { ErrorHandler } from './options.js';
import { scopeOf } from './scope.js';

/** Answers a failed request; the one place where failures become responses and log lines. */
export type Responder = (error: AuthProxyError, req: IncomingMessage, res: ServerResponse) => void;

// Clients are told to come back after a Redis outage has had time to heal, not to hammer it.
const RETRY_AFTER_SECONDS = '5';

export function createResponder(logger: Logger, onError: ErrorHandler | undefined): Responder {
  return function respond(error, req, res): void {
    log(logger, error, req);
    if (res.headersSent) {
      // The backend failed mid-response: the only honest signal left is a cut connection.
      res.destroy();
      return;
    }
    if (onError !== undefined) {
      try {
        onError(error, req as Request, res as Response);
        return;
      } catch (hookError) {
        // Proxy errors arrive in an event listener, where a throw would take the process down.
        logger.error(
          `express-auth-proxy: onError threw (${errorName(hookError)}); answering plainly`,
        );
        if (hasStarted(res)) {
          res.destroy();
          return;
        }
      }
    }
    const status = error.status;
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    };
    if (status === 503) headers['retry-after'] = RETRY_AFTER_SECONDS;
    res.writeHead(status, headers);
    res.end(`${status} ${STATUS_CODES[status] ?? 'Error'}: ${error.code}\n`);
  };
}

// A function, so that TypeScript does not carry the earlier `headersSent === false` across the
// hook call that may have started the answer.
function hasStarted(res: ServerResponse): boolean {
  return res.headersSent;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

function log(logger: Logger, error: AuthProxyError, req: IncomingMessage): void {
  const status = error.status;
  const url = (req as Partial<Request>).originalUrl ?? req.url ?? '';
  // The query string is left out: it is the one part of a URL that often carries secrets.
  const path = url.split('?', 1)[0] ?? '';
  const scope = scopeOf(req);
  const who = scope === undefined ? '' : ` ${sidHash(scope.sid)}`;
  const line = `express-auth-proxy: ${status} ${error.code} ${req.method ?? ''} ${path}${who}: ${error.message}`;
  if (status >= 500) logger.error(line);
  else logger.info(line);
}
