import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import type { AuthProxyError, ErrorCode } from '../errors.js';
import { sidHash } from '../logger.js';
import type { Logger } from '../logger.js';
import type { ErrorHandler } from '../options.js';
import { scopeOf } from './scope.js';

/** Answers a failed request; the one place where failures become responses and log lines. */
export type Responder = (error: AuthProxyError, req: IncomingMessage, res: ServerResponse) => void;

// Clients are told to come back after a Redis outage has had time to heal, not to hammer it.
const RETRY_AFTER_SECONDS = '5';

export function createResponder(logger: Logger, onError: ErrorHandler | undefined): Responder {
  return function respond(error, req, res): void {
    log(logger, error, req);
    if (res.headersSent || scopeOf(req)?.upstreamResponded === true) {
      // The backend failed mid-response: the only honest signal left is a cut connection.
      res.destroy();
      return;
    }
    if (onError !== undefined) {
      const fallback = (hookError: unknown): void => {
        logger.error(
          `express-auth-proxy: onError failed (${errorName(hookError)}); answering plainly`,
        );
        if (res.headersSent) res.destroy();
        else answerPlainly(error, res);
      };
      try {
        // A rejected promise or a throw would otherwise go unhandled, and with it the process.
        const result: unknown = onError(error, req as Request, res as Response);
        if (result instanceof Promise) result.catch(fallback);
      } catch (hookError) {
        fallback(hookError);
      }
      return;
    }
    answerPlainly(error, res);
  };
}

function answerPlainly(error: AuthProxyError, res: ServerResponse): void {
  const status = error.status;
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  };
  if (status === 503) headers['retry-after'] = RETRY_AFTER_SECONDS;
  res.writeHead(status, headers);
  res.end(`${status} ${STATUS_CODES[status] ?? 'Error'}: ${error.code}\n`);
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

// Client errors an operator should still see: the stored credentials no longer open the backend
// (a password changed behind the login site's back).
const WARNED: ReadonlySet<ErrorCode> = new Set(['ERR_CREDENTIALS_REJECTED']);

function log(logger: Logger, error: AuthProxyError, req: IncomingMessage): void {
  const status = error.status;
  const url = (req as Partial<Request>).originalUrl ?? req.url ?? '';
  // The query string is left out: it is the one part of a URL that often carries secrets.
  const path = url.split('?', 1)[0] ?? '';
  const scope = scopeOf(req);
  const who = scope === undefined ? '' : ` ${sidHash(scope.sid)}`;
  const line = `express-auth-proxy: ${status} ${error.code} ${req.method ?? ''} ${path}${who}: ${error.message}`;
  if (status >= 500) logger.error(line);
  else if (WARNED.has(error.code)) logger.warn(line);
  else logger.info(line);
}
