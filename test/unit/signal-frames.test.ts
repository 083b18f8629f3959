/**
 * The load generator's test for "is this frame a relayed signal" (bench/lib/signal-frames.ts):
 * it used to look at one character position, assuming `{"v":1,"type":"` in front, so a frame
 * with a two-digit version or another key order was miscounted, and so was any type starting
 * with an `s`.
 */
import { describe, expect, it } from 'vitest';
import { isSignalFrame } from '../../bench/lib/signal-frames.ts';
import { errorFrame, peerJoinedFrame, relayFrame, signalFrame } from '../../server/frames.ts';

/** The frame's bytes with some bytes around them, as the generator sees them in a read. */
function inRead(text: string | Buffer): [Buffer, number, number] {
  const payload = typeof text === 'string' ? Buffer.from(text) : text;
  const buf = Buffer.concat([
    Buffer.from([0x81, 0x7e, 0x01, 0x00]),
    payload,
    Buffer.from('{"v":1,"type":"signal"'),
  ]);
  return [buf, 4, 4 + payload.length];
}

describe('bench: which frames are relayed signals', () => {
  it("our server's relayed signals, either way it builds them", () => {
    const to = 'b'.repeat(22);
    const sent = `{"v":1,"type":"signal","to":"${to}","data":"x"}`;
    const fast = relayFrame('a'.repeat(22), Buffer.from(sent), sent, to, 'x');
    expect(isSignalFrame(...inRead(fast))).toBe(true);
    expect(isSignalFrame(...inRead(signalFrame('a'.repeat(22), '{"sdp":"v=0"}')))).toBe(true);
  });

  it('frames that are not signals, whatever follows them in the read', () => {
    expect(isSignalFrame(...inRead(errorFrame('rate-limited')))).toBe(false);
    expect(isSignalFrame(...inRead(peerJoinedFrame('a'.repeat(22))))).toBe(false);
    expect(isSignalFrame(...inRead('{"v":1,"type":"status","data":"x"}'))).toBe(false);
    expect(isSignalFrame(...inRead('{"v":1,"type":"sig'))).toBe(false);
  });

  it('another protocol version, key order or spacing', () => {
    expect(isSignalFrame(...inRead('{"v":12,"type":"signal","from":"a","data":1}'))).toBe(true);
    expect(isSignalFrame(...inRead('{"type":"signal","v":1,"from":"a","data":1}'))).toBe(true);
    expect(isSignalFrame(...inRead('{ "v": 1, "type": "signal", "data": 1 }'))).toBe(true);
    expect(isSignalFrame(...inRead('{"v":12,"type":"error","code":"internal"}'))).toBe(false);
    expect(isSignalFrame(...inRead('{"data":{"type":"signal"},"type":"peer-left","v":1}'))).toBe(false);
  });
});
