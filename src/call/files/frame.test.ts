import { describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES } from '../../protocol/peer-files.ts';
import { decodeFrame, encodeBodyFrame } from './frame.ts';

describe('body frames', () => {
  it('round-trip index, offset and bytes, including offsets beyond 4 GiB', () => {
    const body = new Uint8Array([1, 2, 3, 250]);
    for (const offset of [0, 1, 2 ** 32 + 7, 2 ** 53 - 1]) {
      const decoded = decodeFrame(encodeBodyFrame(0xfffffffe, offset, body));
      expect(decoded.ok).toBe(true);
      if (!decoded.ok) continue;
      expect(decoded.frame.index).toBe(0xfffffffe);
      expect(decoded.frame.offset).toBe(offset);
      expect([...decoded.frame.body]).toEqual([1, 2, 3, 250]);
    }
  });

  it('carry an empty body', () => {
    const decoded = decodeFrame(encodeBodyFrame(3, 10, new Uint8Array(0)));
    expect(decoded.ok && decoded.frame.body.byteLength).toBe(0);
  });

  it('refuse text, short frames and unknown frame types', () => {
    expect(decodeFrame('hello')).toEqual({ ok: false, reason: 'not-binary' });
    expect(decodeFrame(new ArrayBuffer(FRAME_HEADER_BYTES - 1))).toEqual({ ok: false, reason: 'too-short' });
    const unknown = encodeBodyFrame(1, 0, new Uint8Array(4));
    new DataView(unknown).setUint8(0, 9);
    expect(decodeFrame(unknown)).toEqual({ ok: false, reason: 'unknown-type' });
  });

  it('refuse offsets that are negative, fractional, NaN or past 2^53', () => {
    for (const offset of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53 + 2]) {
      const frame = encodeBodyFrame(1, 0, new Uint8Array(4));
      new DataView(frame).setFloat64(5, offset);
      expect(decodeFrame(frame)).toEqual({ ok: false, reason: 'bad-offset' });
    }
  });
});
