/**
 * Which of our server's frames is a relayed `signal` (the load generator matches those with
 * the send times of its messages; anything else, an error or news, must not take one).
 *
 * Fast path: the exact head the server writes for a relayed signal (frames.ts, with the
 * protocol version of src/protocol), compared byte by byte. Any other frame is parsed and its
 * `type` read, so a frame with another version, another key order or spacing, or a type that
 * merely starts like `signal`, is still classified right: only a few frames per run (joins,
 * errors, news) take that path.
 */
import { PROTOCOL_VERSION } from '../../src/protocol/signaling.ts';

const SIGNAL_HEAD = Buffer.from(`{"v":${PROTOCOL_VERSION},"type":"signal",`, 'latin1');

/** Is `buf[start, end)` (a text frame's payload) a `signal` message? */
export function isSignalFrame(buf: Buffer, start: number, end: number): boolean {
  if (
    end - start > SIGNAL_HEAD.length &&
    buf.compare(SIGNAL_HEAD, 0, SIGNAL_HEAD.length, start, start + SIGNAL_HEAD.length) === 0
  ) {
    return true;
  }
  try {
    const msg = JSON.parse(buf.toString('utf8', start, end)) as { type?: unknown } | null;
    return typeof msg === 'object' && msg !== null && msg.type === 'signal';
  } catch {
    return false;
  }
}
