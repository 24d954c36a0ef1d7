import { connect } from 'node:net';
import type { Socket } from 'node:net';

/** One HTTP/1.1 response read off a raw socket. Header names are lower-cased. */
export interface RawResponse {
  status: number;
  headers: Map<string, string[]>;
  body: Buffer;
}

export interface RawExchange {
  /** The final (non-1xx) responses, in the order they arrived. */
  responses: RawResponse[];
  /** Whether the server closed the connection. */
  closed: boolean;
}

export interface ExchangeOptions {
  /** Methods of the requests written, in order, so that HEAD answers are read without a body. */
  methods?: string[];
  /** Resolve once this many final responses are parsed, without waiting for the close. */
  responses?: number;
  /** An upper bound for a server that never answers; a failure, not a synchronisation. */
  timeoutMs?: number;
}

/** The raw bytes of a string whose characters are all below 256 (latin1). */
export function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/**
 * Writes bytes exactly as given on a fresh connection (Node's client would refuse or normalize
 * many of them) and parses what comes back, until the server closes the connection or, with
 * `responses`, until that many responses arrived.
 */
export function exchange(
  port: number,
  data: Buffer | Buffer[],
  options: ExchangeOptions = {},
): Promise<RawExchange> {
  const { methods = [], timeoutMs = 15_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const reader = new ResponseReader(methods);
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ responses: reader.responses, closed });
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms (${reader.describe()})`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      if (options.responses !== undefined && reader.responses.length >= options.responses) {
        finish(false);
      }
    });
    // A server that resets after its answer (a refused request with an unread body) is a close.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      reader.end();
      finish(true);
    });
    for (const chunk of Array.isArray(data) ? data : [data]) socket.write(chunk);
  });
}

/** Opens a connection and resolves once it is established, for tests that write in steps. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/**
 * An incremental parser of HTTP/1.1 responses, enough for tests: status line, headers, then a
 * body framed by chunked encoding, Content-Length, or the close of the connection.
 */
export class ResponseReader {
  readonly responses: RawResponse[] = [];
  #buffer = Buffer.alloc(0);
  #methods: string[];
  #ended = false;
  /** Called for each final response as soon as it is complete. */
  onResponse: ((response: RawResponse) => void) | undefined;

  constructor(methods: string[] = []) {
    this.#methods = [...methods];
  }

  /** Announces the method of the next request written, for a reader on a kept-alive socket. */
  expect(method: string): void {
    this.#methods.push(method);
  }

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#drain();
  }

  end(): void {
    this.#ended = true;
    this.#drain();
  }

  describe(): string {
    return `${this.responses.length} responses, ${this.#buffer.length} bytes unparsed`;
  }

  #drain(): void {
    for (;;) {
      const parsed = this.#parseOne();
      if (parsed === undefined) return;
      this.#buffer = this.#buffer.subarray(parsed.length);
      if (parsed.response.status >= 200) {
        this.#methods.shift();
        this.responses.push(parsed.response);
        this.onResponse?.(parsed.response);
      }
    }
  }

  #parseOne(): { response: RawResponse; length: number } | undefined {
    const buffer = this.#buffer;
    const headEnd = buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return undefined;
    const [statusLine = '', ...lines] = buffer
      .subarray(0, headEnd)
      .toString('latin1')
      .split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (match === null) throw new Error(`not an HTTP response: ${JSON.stringify(statusLine)}`);
    const status = Number(match[1]);
    const headers = new Map<string, string[]>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
    }
    const start = headEnd + 4;
    const method = this.#methods[0] ?? 'GET';
    if (status < 200 || status === 204 || status === 304 || method === 'HEAD') {
      return { response: { status, headers, body: Buffer.alloc(0) }, length: start };
    }
    if (/chunked/i.test(headers.get('transfer-encoding')?.join(',') ?? '')) {
      return this.#chunked(status, headers, start);
    }
    const length = headers.get('content-length')?.[0];
    if (length !== undefined) {
      const end = start + Number(length);
      if (buffer.length < end) return undefined;
      return { response: { status, headers, body: buffer.subarray(start, end) }, length: end };
    }
    if (!this.#ended) return undefined;
    return { response: { status, headers, body: buffer.subarray(start) }, length: buffer.length };
  }

  #chunked(
    status: number,
    headers: Map<string, string[]>,
    start: number,
  ): { response: RawResponse; length: number } | undefined {
    const buffer = this.#buffer;
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
      at = lineEnd + 2;
      if (size === 0) {
        // Trailers, then the empty line.
        const end = buffer.indexOf('\r\n\r\n', at - 2);
        if (end < 0) return undefined;
        return { response: { status, headers, body: Buffer.concat(parts) }, length: end + 4 };
      }
      if (buffer.length < at + size + 2) return undefined;
      parts.push(buffer.subarray(at, at + size));
      at += size + 2;
    }
  }
}

/** The error code our plain responses end with (`401 Unauthorized: ERR_TOKEN_MISSING`). */
export function errorCode(response: RawResponse): string | undefined {
  return /: (ERR_[A-Z_]+)\n$/.exec(response.body.toString('latin1'))?.[1];
}
