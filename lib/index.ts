export { authProxy } from './auth-proxy.js';
export type { AuthProxy } from './auth-proxy.js';
export type {
  AuthProxyOptions,
  ErrorHandler,
  HmacAlgorithm,
  ProxyPassthroughOptions,
} from './options.js';
export { upgradeHandler } from './upgrade/upgrade-handler.js';
export type {
  UpgradeApp,
  UpgradeHandlerOptions,
  UpgradeListener,
} from './upgrade/upgrade-handler.js';
export { AuthProxyError, AuthProxyConfigError, ERROR_CODES } from './errors.js';
export type { ErrorCode } from './errors.js';
export { statusForCode } from './status.js';
export type { InvalidationListener, Session, SessionStore } from './sessions/session-store.js';
export { MemorySessionStore } from './sessions/memory-session-store.js';
export { RedisSessionStore } from './sessions/redis-session-store.js';
export { SessionCache } from './sessions/session-cache.js';
export type { SessionCacheOptions, SessionCacheSettings } from './sessions/session-cache.js';
export type { RedisClient, RedisSessionStoreOptions } from './sessions/redis-session-store.js';
export type {
  RedisClusterConfig,
  RedisNode,
  RedisSentinelConfig,
  RedisTopology,
} from './sessions/redis-topology.js';
export { sealCredentials, openCredentials } from './sessions/credentials.js';
export type { CredentialsKey } from './sessions/credentials.js';
export type { Logger } from './logger.js';
export { createSession, destroySession } from './sessions/session-issuer.js';
export type {
  CreateSessionOptions,
  IssuedSession,
  SessionSubject,
} from './sessions/session-issuer.js';
export {
  sessionCookie,
  clearSessionCookie,
  sessionCookieOptions,
} from './sessions/session-cookie.js';
export type { SessionCookieOptions } from './sessions/session-cookie.js';
export type { JwtKey } from './sessions/jwt-key.js';
export { readiness } from './observe/readiness.js';
export type { Readiness, ReadinessOptions } from './observe/readiness.js';
export { createMetrics, metricsHandler } from './observe/metrics.js';
export type { MetricsOptions, MountMetrics, ProxyMetrics } from './observe/metrics.js';
