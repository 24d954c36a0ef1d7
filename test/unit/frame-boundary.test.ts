import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeFrame, FrameBoundary } from '../../lib/upgrade/frame-boundary.js';

/** A frame as a backend (unmasked) or a client (masked) would send it. */
function frame(payloadLength: number, masked = false, opcode = 0x2): Buffer {
  let header: number[];
  if (payloadLength < 126) header = [0x80 | opcode, payloadLength];
  else if (payloadLength < 65_536) {
    header = [0x80 | opcode, 126, payloadLength >> 8, payloadLength & 0xff];
  } else {
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(BigInt(payloadLength));
    header = [0x80 | opcode, 127, ...length];
  }
  if (masked) {
    header[1] = (header[1] ?? 0) | 0x80;
    header.push(1, 2, 3, 4);
  }
  return Buffer.concat([Buffer.from(header), Buffer.alloc(payloadLength, 0x81)]);
}

/** Every offset at which `stream` is between two frames, fed one byte at a time. */
function boundaries(stream: Buffer): number[] {
  const frames = new FrameBoundary();
  const found: number[] = [];
  for (let i = 0; i < stream.length; i++) {
    frames.advance(stream.subarray(i, i + 1));
    if (frames.atBoundary) found.push(i + 1);
  }
  return found;
}

describe('FrameBoundary', () => {
  it('starts at a boundary', () => {
    assert.equal(new FrameBoundary().atBoundary, true);
  });

  const sizes: [string, Buffer, number][] = [
    ['an empty frame', frame(0), 2],
    ['a 7-bit length', frame(125), 127],
    ['a 16-bit length', frame(126), 130],
    ['a 16-bit length at its top', frame(65_535), 65_539],
    ['a 64-bit length', frame(65_536), 65_546],
    ['a masked frame', frame(5, true), 11],
    ['a masked frame with a 16-bit length', frame(300, true), 308],
    ['a close frame', closeFrame(4401, 'session ended'), 17],
  ];
  for (const [name, bytes, length] of sizes) {
    it(`finds the end of ${name}, whatever the chunking`, () => {
      assert.equal(bytes.length, length);
      assert.deepEqual(boundaries(bytes), [length]);
      const whole = new FrameBoundary();
      assert.equal(whole.advance(bytes), length);
      assert.equal(whole.atBoundary, true);
    });
  }

  it('follows a run of frames split across chunks anywhere', () => {
    const stream = Buffer.concat([frame(3), frame(200), frame(0, true), frame(70_000)]);
    const ends = [5, 5 + 204, 5 + 204 + 6, stream.length];
    assert.deepEqual(boundaries(stream), ends);
    for (const cut of [1, 3, 7, 100, 210, 5000]) {
      const frames = new FrameBoundary();
      frames.advance(stream.subarray(0, cut));
      frames.advance(stream.subarray(cut));
      assert.equal(frames.atBoundary, true, `cut at ${cut}`);
    }
  });

  it('with stopAtBoundary, takes only the rest of the frame in progress', () => {
    const stream = Buffer.concat([frame(10), frame(20)]);
    const frames = new FrameBoundary();
    frames.advance(stream.subarray(0, 4));
    assert.equal(frames.advance(stream.subarray(4), true), 8);
    assert.equal(frames.atBoundary, true);
    // Already at a boundary: nothing more is taken.
    assert.equal(frames.advance(stream.subarray(12), true), 0);
  });

  it('with stopAtBoundary, reads a header split over chunks before stopping', () => {
    const stream = frame(300);
    const frames = new FrameBoundary();
    frames.advance(stream.subarray(0, 1));
    assert.equal(frames.advance(stream.subarray(1, 3), true), 2);
    assert.equal(frames.atBoundary, false);
    assert.equal(frames.advance(stream.subarray(3), true), stream.length - 3);
    assert.equal(frames.atBoundary, true);
  });

  it('never finds a boundary inside a length it cannot count exactly', () => {
    const frames = new FrameBoundary();
    frames.advance(Buffer.from([0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 0]));
    frames.advance(Buffer.alloc(1_000_000));
    assert.equal(frames.atBoundary, false);
  });
});

describe('closeFrame', () => {
  it('is an unmasked close frame with the code and the reason', () => {
    assert.deepEqual([...closeFrame(1001, 'bye')], [0x88, 5, 0x03, 0xe9, ...Buffer.from('bye')]);
  });

  it('keeps a control frame within 125 bytes', () => {
    assert.equal(closeFrame(4401, 'x'.repeat(500)).length, 2 + 125);
  });
});
