import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { AuthProxyError } from '../errors.js';

/**
 * Largest WebDAV request body translated on a rewritten mount, after translation. A
 * `calendar-multiget` of a thousand events is about 100 KiB.
 */
export const MAX_TRANSLATED_BODY = 1024 * 1024;

/**
 * Reads the request's body through `transform` (the href translation) into one buffer, so that
 * it can go upstream with a Content-Length. Rejects with the transform's own error (an href it
 * refuses) or with 413 `ERR_BODY_TOO_LARGE` past `limit`; resolves with `undefined` when the
 * client left, there being nobody to answer.
 *
 * @example
 * const body = await readBodyThrough(req, hrefRewriter(map, { strict }));
 */
export function readBodyThrough(
  req: IncomingMessage,
  transform: Transform,
  limit = MAX_TRANSLATED_BODY,
): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (err?: unknown): void => {
      req.unpipe(transform);
      transform.destroy();
      if (err instanceof AuthProxyError) reject(err);
      else resolve(undefined);
    };
    transform.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        fail(
          new AuthProxyError(
            'ERR_BODY_TOO_LARGE',
            `request body: over ${limit} bytes, too large to translate`,
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    transform.once('end', () => {
      resolve(Buffer.concat(chunks, size));
    });
    transform.once('error', fail);
    req.once('error', fail);
    req.once('aborted', () => {
      fail();
    });
    req.pipe(transform);
  });
}

/**
 * Makes the request, whose body has been read, hand `body` to whatever it is piped into: http-proxy
 * pipes the request into the upstream request itself, with no hook in between.
 */
export function replayBody(req: IncomingMessage, body: Buffer): void {
  req.pipe = <T extends NodeJS.WritableStream>(destination: T): T => {
    destination.end(body);
    return destination;
  };
}
