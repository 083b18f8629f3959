/**
 * Body frames on the `files` channel: a 13-byte header (u8 type, u32 index, f64 offset;
 * big-endian) followed by the bytes. See src/protocol/peer-files.ts.
 */
import { FRAME_HEADER_BYTES, FRAME_TYPE_BODY } from '../../protocol/peer-files.ts';

export interface BodyFrame {
  index: number;
  offset: number;
  body: Uint8Array;
}

export type DecodedFrame =
  | { ok: true; frame: BodyFrame }
  | { ok: false; reason: 'not-binary' | 'too-short' | 'unknown-type' | 'bad-offset' };

/** One buffer: header + a copy of `body` (RTCDataChannel.send takes a single buffer). */
export function encodeBodyFrame(index: number, offset: number, body: Uint8Array): ArrayBuffer {
  const buffer = new ArrayBuffer(FRAME_HEADER_BYTES + body.byteLength);
  const view = new DataView(buffer);
  view.setUint8(0, FRAME_TYPE_BODY);
  view.setUint32(1, index);
  view.setFloat64(5, offset);
  new Uint8Array(buffer, FRAME_HEADER_BYTES).set(body);
  return buffer;
}

/** Decode a frame from the peer; never throws. The body is a view into `data`, not a copy. */
export function decodeFrame(data: unknown): DecodedFrame {
  if (!(data instanceof ArrayBuffer)) return { ok: false, reason: 'not-binary' };
  if (data.byteLength < FRAME_HEADER_BYTES) return { ok: false, reason: 'too-short' };
  const view = new DataView(data);
  if (view.getUint8(0) !== FRAME_TYPE_BODY) return { ok: false, reason: 'unknown-type' };
  const index = view.getUint32(1);
  const offset = view.getFloat64(5);
  if (!Number.isSafeInteger(offset) || offset < 0) return { ok: false, reason: 'bad-offset' };
  return { ok: true, frame: { index, offset, body: new Uint8Array(data, FRAME_HEADER_BYTES) } };
}
