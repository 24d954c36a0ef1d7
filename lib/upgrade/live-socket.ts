import type { Duplex } from 'node:stream';
import { closeFrame, FrameBoundary } from './frame-boundary.js';

/**
 * Close codes sent to the client when the proxy, not the backend, ends a WebSocket. Part of the
 * public contract (README "WebSockets"): clients decide on them whether to log in again.
 */
export const CLOSE_CODES = {
  /** The server is shutting down (RFC 6455 "going away"). */
  goingAway: 1001,
  /** The session could not be checked because the store is unavailable: reconnect later. */
  tryAgainLater: 1013,
  /** The session ended: logout, deleted, expired, or its token expired. Log in again. */
  sessionEnded: 4401,
} as const;

// How long closing may take: reaching the end of the backend's current frame, then the client
// reading the close frame. Past it both sockets are destroyed (the client sees 1006).
export const CLOSE_TIMEOUT_MS = 5000;

/**
 * One proxied WebSocket after its 101: the client's socket and the backend's. Backend-to-client
 * bytes are relayed here (with backpressure) while their frame boundaries are followed, so that
 * `close()` can put its close frame between two backend frames, never inside one; client-to-
 * backend bytes keep flowing through http-proxy's pipe.
 */
export class LiveSocket {
  readonly closed: Promise<void>;
  readonly #client: Duplex;
  readonly #upstream: Duplex;
  readonly #frames = new FrameBoundary();
  #closing: Buffer | undefined;
  #deadline: NodeJS.Timeout | undefined;

  /** Takes over the backend-to-client direction that http-proxy has just piped. */
  constructor(client: Duplex, upstream: Duplex) {
    this.#client = client;
    this.#upstream = upstream;
    this.closed = new Promise((resolve) => {
      if (client.destroyed) resolve();
      else
        client.once('close', () => {
          resolve();
        });
    });
    upstream.unpipe(client);
    upstream.on('data', this.#relay);
    client.on('drain', () => {
      upstream.resume();
    });
    upstream.once('end', () => {
      if (this.#closing === undefined) endThenDestroy(client);
    });
    // Either side gone ends the other: pipes pass on a clean end, not a destroy.
    client.once('close', () => {
      clearTimeout(this.#deadline);
      endThenDestroy(upstream);
    });
    upstream.once('close', () => {
      if (this.#closing === undefined) endThenDestroy(client);
    });
    if (client.destroyed) upstream.destroy();
    else upstream.resume();
  }

  /**
   * Ends the WebSocket from the proxy: the client gets a close frame with `code`, once the
   * backend's frame in progress (if any) has been passed on whole; the backend's connection is
   * ended. Idempotent: the first reason wins.
   */
  close(code: number, reason: string): void {
    if (this.#closing !== undefined || this.#client.destroyed) return;
    this.#closing = closeFrame(code, reason);
    // Whatever the client sends from now on is read and dropped.
    this.#client.unpipe(this.#upstream);
    this.#client.resume();
    this.#deadline = setTimeout(() => {
      this.#client.destroy();
      this.#upstream.destroy();
    }, CLOSE_TIMEOUT_MS);
    this.#deadline.unref();
    // Otherwise the relay sends it once the backend's frame in progress has passed.
    if (this.#frames.atBoundary) this.#sendClose();
  }

  readonly #relay = (chunk: Buffer): void => {
    let data = chunk;
    if (this.#closing === undefined) {
      this.#frames.advance(chunk);
    } else {
      const whole = this.#frames.advance(chunk, true);
      data = chunk.subarray(0, whole);
    }
    if (data.length > 0 && !this.#client.write(data)) this.#upstream.pause();
    if (this.#closing !== undefined && this.#frames.atBoundary) this.#sendClose();
  };

  #sendClose(): void {
    const frame = this.#closing;
    if (frame === undefined) return;
    this.#upstream.off('data', this.#relay);
    endThenDestroy(this.#upstream);
    // Written after whatever is still buffered for the client; the socket is destroyed once it
    // has gone out (or at the deadline if the client does not read).
    this.#client.end(frame, () => {
      this.#client.destroy();
    });
  }
}

/** Ends our side, drops what the peer still sends, and destroys the socket if it lingers. */
function endThenDestroy(socket: Duplex): void {
  if (socket.destroyed) return;
  socket.resume();
  socket.end();
  const timer = setTimeout(() => {
    socket.destroy();
  }, CLOSE_TIMEOUT_MS);
  timer.unref();
  socket.once('close', () => {
    clearTimeout(timer);
  });
}
