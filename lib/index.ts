export { authProxy } from './auth-proxy.js';
export type { AuthProxy } from './auth-proxy.js';
export type {
  AuthProxyOptions,
  ErrorHandler,
  HmacAlgorithm,
  ProxyPassthroughOptions,
} from './options.js';
export { AuthProxyError, AuthProxyConfigError, ERROR_CODES } from './errors.js';
export type { ErrorCode } from './errors.js';
export { statusForCode } from './status.js';
export type { Session, SessionStore } from './session-store.js';
export { MemorySessionStore } from './memory-session-store.js';
export { RedisSessionStore } from './redis-session-store.js';
export type { RedisClient, RedisSessionStoreOptions } from './redis-session-store.js';
export { sealCredentials, openCredentials } from './credentials.js';
export type { CredentialsKey } from './credentials.js';
export type { Logger } from './logger.js';
export { createSession, destroySession } from './session-issuer.js';
export type { CreateSessionOptions, IssuedSession, SessionSubject } from './session-issuer.js';
export { sessionCookie, clearSessionCookie, sessionCookieOptions } from './session-cookie.js';
export type { SessionCookieOptions } from './session-cookie.js';
export type { JwtKey } from './jwt-key.js';
