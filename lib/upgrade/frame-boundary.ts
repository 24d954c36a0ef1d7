// The longest frame header: 2 bytes, a 64-bit extended length, a 4-byte masking key.
const MAX_HEADER = 14;

/**
 * Follows where the frames of one direction of a WebSocket stream begin and end (RFC 6455 5.2),
 * reading headers only: payloads are skipped, never copied or decoded, so extensions and
 * compression (RSV bits) make no difference. Lets a proxy insert a frame of its own (a close)
 * between two frames instead of inside one.
 *
 * @example
 * const frames = new FrameBoundary();
 * frames.advance(Buffer.from([0x81, 0x05, 0x68, 0x65])); // half of a 5-byte text frame
 * frames.atBoundary; // false
 * frames.advance(Buffer.from([0x6c, 0x6c, 0x6f]));
 * frames.atBoundary; // true
 */
export class FrameBoundary {
  readonly #header = Buffer.alloc(MAX_HEADER);
  #headerLength = 0;
  // Infinity once a length cannot be counted exactly (over 2^53): no boundary is ever found again.
  #payloadLeft = 0;

  /** Whether everything seen so far ends exactly at the end of a frame. */
  get atBoundary(): boolean {
    return this.#headerLength === 0 && this.#payloadLeft === 0;
  }

  /**
   * Reads `chunk` as the next bytes of the stream and returns how many were taken: all of them,
   * or with `stopAtBoundary` only those up to the first frame boundary (0 when the stream is at
   * one already).
   */
  advance(chunk: Uint8Array, stopAtBoundary = false): number {
    const length = chunk.length;
    let at = 0;
    while (at < length) {
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, length - at);
        this.#payloadLeft -= take;
        at += take;
      } else {
        if (stopAtBoundary && this.#headerLength === 0) return at;
        this.#header[this.#headerLength++] = chunk[at++] ?? 0;
        this.#completeHeader();
      }
      if (stopAtBoundary && this.atBoundary) return at;
    }
    return at;
  }

  // Once the header is whole, what follows is its payload (possibly none).
  #completeHeader(): void {
    if (this.#headerLength < 2) return;
    const second = this.#header[1] ?? 0;
    const length7 = second & 0x7f;
    const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
    const masked = (second & 0x80) !== 0;
    if (this.#headerLength < 2 + extended + (masked ? 4 : 0)) return;
    if (length7 === 126) this.#payloadLeft = this.#header.readUInt16BE(2);
    else if (length7 === 127) {
      const big = this.#header.readBigUInt64BE(2);
      this.#payloadLeft = big > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(big);
    } else this.#payloadLeft = length7;
    this.#headerLength = 0;
  }
}

/**
 * A close frame as a server sends it (unmasked): the status code and a short reason.
 *
 * @example
 * closeFrame(4401, 'session ended'); // <Buffer 88 0f 11 31 73 65 ...>
 */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  // Control frames carry at most 125 bytes of payload.
  const body = text.subarray(0, 123);
  const frame = Buffer.alloc(4 + body.length);
  frame[0] = 0x88;
  frame[1] = 2 + body.length;
  frame.writeUInt16BE(code, 2);
  body.copy(frame, 4);
  return frame;
}
