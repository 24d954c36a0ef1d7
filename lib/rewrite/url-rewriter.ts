import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { AuthProxyError } from '../errors.js';
import { hrefRewriter } from './href-rewriter.js';
import { mapIfResourceTags } from './if-header.js';
import { bodyHrefToUpstream, publicBase, toPublic, toUpstream, upstreamBase } from './url-map.js';
import type { PublicBase, UpstreamBase, UrlProblem } from './url-map.js';

/** What the rewriter needs of the mount's configuration. */
export interface UrlRewriterOptions {
  target: string;
  /** Translate paths in headers and multistatus bodies (`rewriteUrls`). */
  rewriteUrls: boolean;
  changeOrigin: boolean;
  /** http-proxy's own Location options, which win over the client's host and scheme. */
  hostRewrite?: string | undefined;
  protocolRewrite?: string | undefined;
}

/** The URL translation of one mount, used by the proxy stage on every request and response. */
export interface UrlRewriter {
  /**
   * Checks and translates the URLs of the request headers bound upstream (`Destination`, the
   * resource tags of `If`), in place. Returns the refusal when one cannot be passed on, or the
   * stream the request's WebDAV XML body must go through on its way upstream (its hrefs
   * translated; it fails with an `AuthProxyError` on an href it cannot pass on).
   */
  request(
    req: IncomingMessage,
    prefix: string,
    headers: IncomingHttpHeaders,
  ): AuthProxyError | Transform | undefined;
  /**
   * Translates `Location` and `Content-Location` of the backend's response in place, before
   * http-proxy copies them, and routes a multistatus body through the href rewriter.
   */
  response(
    proxyRes: IncomingMessage,
    req: IncomingMessage,
    res: ServerResponse,
    prefix: string,
    fail: (error: AuthProxyError, req: IncomingMessage, res: ServerResponse) => void,
  ): void;
}

// Methods whose answers carry WebDAV XML (RFC 4918, 3253, 3744, 4791, 5323, 5842, 6638).
const DAV_METHODS: ReadonlySet<string> = new Set([
  'PROPFIND',
  'PROPPATCH',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'DELETE',
  'REPORT',
  'SEARCH',
  'MKCALENDAR',
  'ACL',
  'BIND',
  'UNBIND',
  'REBIND',
  'ORDERPATCH',
  'VERSION-CONTROL',
  'CHECKIN',
  'CHECKOUT',
  'UNCHECKOUT',
  'MKWORKSPACE',
  'UPDATE',
  'LABEL',
  'MERGE',
  'MKACTIVITY',
  'BASELINE-CONTROL',
]);

// Methods whose request body, when they have one, is WebDAV XML by definition: servers read it
// as XML without a Content-Type. Other methods' bodies are judged only when typed as XML.
const XML_BODY_METHODS: ReadonlySet<string> = new Set([
  'PROPFIND',
  'PROPPATCH',
  'REPORT',
  'LOCK',
  'SEARCH',
  'MKCALENDAR',
  'MKCOL',
  'ACL',
  'BIND',
  'UNBIND',
  'REBIND',
  'ORDERPATCH',
]);

const DECOMPRESSORS: Readonly<Record<string, () => Transform>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * Builds the URL translation of a mount from its target, once.
 *
 * @example
 * const rewriter = createUrlRewriter({ target: 'http://127.0.0.1:8081/remote.php', rewriteUrls: true, changeOrigin: true });
 * const refusal = rewriter.request(req, req.baseUrl, upstreamHeaders); // Destination: http://host/dav/b -> .../remote.php/b
 */
export function createUrlRewriter(options: UrlRewriterOptions): UrlRewriter {
  const up: UpstreamBase = upstreamBase(options.target, options.changeOrigin);
  const { rewriteUrls, hostRewrite } = options;
  const protocolRewrite = options.protocolRewrite?.replace(/:$/, '');
  // Bodies hold the backend's view of URLs: its paths, and with changeOrigin its own origin.
  // Only a same-path mount without changeOrigin sees exactly what the client sees.
  const translatesBodies = (prefix: string): boolean =>
    rewriteUrls && (prefix !== up.path || up.changeOrigin);

  return {
    request(req, prefix, headers) {
      const { destination } = headers;
      const condition = headers.if;
      const rewritesBody = translatesBodies(prefix) && DAV_METHODS.has(req.method ?? '');
      if (destination === undefined && condition === undefined && !rewritesBody) return undefined;
      // A compressed multistatus cannot be read as text: ask for it plain.
      if (rewritesBody) headers['accept-encoding'] = 'identity';
      const pub = publicBase(prefix, clientProtocol(req), clientHost(req));
      // Checked on every mount, translated unless the backend does it itself (rewriteUrls: false).
      const map = (url: string): string | UrlProblem => {
        const mapped = toUpstream(url, up, pub);
        return typeof mapped !== 'string' || rewriteUrls ? mapped : url;
      };
      if (destination !== undefined) {
        const mapped =
          typeof destination !== 'string' || (req.headersDistinct.destination?.length ?? 0) > 1
            ? { problem: 'is given twice' }
            : map(destination);
        if (typeof mapped !== 'string') {
          return new AuthProxyError('ERR_DESTINATION_INVALID', `Destination ${mapped.problem}`);
        }
        headers.destination = mapped;
      }
      if (condition !== undefined) {
        const mapped =
          typeof condition !== 'string'
            ? { problem: 'is given twice' }
            : mapIfResourceTags(condition, map);
        if (typeof mapped !== 'string') {
          return new AuthProxyError('ERR_IF_HEADER_INVALID', `If header ${mapped.problem}`);
        }
        headers.if = mapped;
      }
      return rewritesBody ? requestBody(req.method ?? '', headers, up, pub) : undefined;
    },

    response(proxyRes, req, res, prefix, fail) {
      const headers = proxyRes.headers;
      const { location } = headers;
      const contentLocation = headers['content-location'];
      const decompressor = translatesBodies(prefix) ? bodyRewrite(proxyRes, req) : false;
      if (location === undefined && contentLocation === undefined && decompressor === false) return;

      const client = publicBase(
        prefix,
        protocolRewrite ?? clientProtocol(req),
        hostRewrite ?? clientHost(req),
      );
      // Without rewriteUrls only the backend's origin is replaced: it must never reach clients.
      const pub: PublicBase = rewriteUrls ? client : { ...client, prefix: up.path };
      if (location !== undefined) headers.location = toPublic(location, up, pub);
      if (contentLocation !== undefined) {
        headers['content-location'] = toPublic(contentLocation, up, pub);
      }
      if (decompressor === false) return;

      // The body changes length, and its encoding when it was compressed.
      delete headers['content-length'];
      delete headers['content-md5'];
      if (decompressor !== undefined) delete headers['content-encoding'];
      // http-proxy pipes the backend's response into ours right after this event: the body is
      // routed through the rewriter instead, with the same backpressure.
      res.once('pipe', (source: Readable) => {
        if (source !== proxyRes) return;
        proxyRes.unpipe(res);
        const rewriter = hrefRewriter((href) => toPublic(href, up, pub));
        rewriter.on('error', (err) => {
          fail(
            new AuthProxyError('ERR_UPSTREAM_FAILED', 'multistatus rewrite failed', { cause: err }),
            req,
            res,
          );
        });
        if (decompressor === undefined) {
          proxyRes.pipe(rewriter).pipe(res);
          return;
        }
        const inflate = decompressor();
        inflate.on('error', (err) => {
          fail(
            new AuthProxyError('ERR_UPSTREAM_FAILED', 'backend sent a corrupt compressed body', {
              cause: err,
            }),
            req,
            res,
          );
        });
        proxyRes.pipe(inflate).pipe(rewriter).pipe(res);
      });
    },
  };
}

/**
 * The rewriter a request's body goes through, when it is WebDAV XML: its hrefs name resources as
 * the client sees them, and the backend reads them as its own paths (a CalDAV client's
 * `calendar-multiget` lists the hrefs a PROPFIND gave it). Every href is judged, so a body that
 * cannot be read is refused rather than passed on unchecked.
 */
function requestBody(
  method: string,
  headers: IncomingHttpHeaders,
  up: UpstreamBase,
  pub: PublicBase,
): AuthProxyError | Transform | undefined {
  const length = headers['content-length'];
  const chunked = headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) return undefined;
  const type = headers['content-type'];
  // A body of another type holds no DAV:href.
  if (type === undefined ? !XML_BODY_METHODS.has(method) : !isXml(type)) return undefined;
  const refuse = (problem: string): AuthProxyError =>
    new AuthProxyError('ERR_BODY_HREF_INVALID', `request body: ${problem}`);
  if (type !== undefined && !isUtf8Xml(type)) return refuse('XML in a charset other than UTF-8');
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    return refuse(`compressed (${encoding}), its hrefs cannot be checked`);
  }
  return hrefRewriter(
    (href) => {
      const mapped = bodyHrefToUpstream(href, up, pub);
      if (typeof mapped === 'string') return mapped;
      throw new Error(`an href ${mapped.problem}`);
    },
    {
      strict: (problem, cause) =>
        new AuthProxyError('ERR_BODY_HREF_INVALID', `request body: ${problem}`, { cause }),
    },
  );
}

/**
 * Whether the response's body is WebDAV XML to rewrite: returns how to decompress it (undefined
 * when it is not compressed), or false to leave the body alone. File contents (GET, PUT...) are
 * never touched, nor a body in an encoding or charset the rewriter cannot read.
 */
function bodyRewrite(
  proxyRes: IncomingMessage,
  req: IncomingMessage,
): (() => Transform) | undefined | false {
  if (proxyRes.statusCode !== 207 && !DAV_METHODS.has(req.method ?? '')) return false;
  if (!isUtf8Xml(proxyRes.headers['content-type'])) return false;
  const encoding = proxyRes.headers['content-encoding']?.trim().toLowerCase();
  if (encoding === undefined || encoding === '' || encoding === 'identity') return undefined;
  return DECOMPRESSORS[encoding] ?? false;
}

function isXml(contentType: string): boolean {
  const media = (contentType.split(';', 1)[0] ?? '').trim().toLowerCase();
  return media === 'application/xml' || media === 'text/xml' || media.endsWith('+xml');
}

function isUtf8Xml(contentType: string | undefined): boolean {
  if (contentType === undefined || !isXml(contentType)) return false;
  const params = contentType.toLowerCase().split(';').slice(1);
  const charset = params.map((p) => p.trim()).find((p) => p.startsWith('charset='));
  if (charset === undefined) return true;
  const name = charset.slice('charset='.length).replace(/"/g, '');
  return name === 'utf-8' || name === 'utf8' || name === 'us-ascii';
}

/**
 * The host the client addressed, as Express 5's `req.host` reads it: `X-Forwarded-Host` when the
 * app trusts the proxy in front (`trust proxy`), the Host header otherwise.
 */
function clientHost(req: IncomingMessage): string | undefined {
  const forwarded = req.headers['x-forwarded-host'];
  if (typeof forwarded === 'string' && forwarded !== '') {
    const { app } = req as { app?: { get?: (name: string) => unknown } };
    const trust = app?.get?.('trust proxy fn') as
      ((address: string | undefined, hop: number) => boolean) | undefined;
    if (typeof trust === 'function' && trust(req.socket.remoteAddress, 0)) {
      return forwarded.split(',', 1)[0]?.trim();
    }
  }
  return req.headers.host;
}

/** The scheme the client used: Express's `req.protocol` (which honours `trust proxy`) when there. */
function clientProtocol(req: IncomingMessage): string {
  const { protocol } = req as { protocol?: unknown };
  if (typeof protocol === 'string') return protocol;
  return (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
}
