import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/**
 * What the chain learns about one request, in one place. Kept under a symbol so that it cannot
 * collide with the application's own request properties or be set by anything outside the chain.
 */
export interface Scope {
  sid: string;
  /** The complete upstream Authorization value, set once credentials are resolved. */
  authorization: string | undefined;
  /** The client's own headers, set aside while http-proxy reads the rewritten ones. */
  clientHeaders?: IncomingHttpHeaders | undefined;
  /** The mount point as the client spelled it (`req.baseUrl`), to translate URLs back. */
  publicPrefix?: string;
  /**
   * Set once the backend's response arrived: http-proxy has then put its status and headers on
   * the response, so a later failure can only cut the connection.
   */
  upstreamResponded?: boolean;
}

const SCOPE = Symbol('express-auth-proxy.scope');

type ScopedRequest = IncomingMessage & { [SCOPE]?: Scope };

export function setScope(req: IncomingMessage, scope: Scope): void {
  (req as ScopedRequest)[SCOPE] = scope;
}

export function scopeOf(req: IncomingMessage): Scope | undefined {
  return (req as ScopedRequest)[SCOPE];
}
