import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ServerMessageSchema } from '../src/protocol/signaling.ts';
import {
  errorFrame,
  joinedFrame,
  PONG_FRAME,
  peerJoinedFrame,
  peerLeftFrame,
  relayFrame,
  signalFrame,
} from './frames.ts';

const A = 'AAAAAAAAAAAAAAAAAAAAAA';
const B = 'BBBBBBBBBBBBBBBBBBBBBB';

/** Every frame must be a message the client's schema accepts, with the values put in. */
function parsed(frame: string | Buffer): unknown {
  const value = JSON.parse(frame.toString());
  const result = v.safeParse(ServerMessageSchema, value);
  expect(result.success, JSON.stringify(result.issues)).toBe(true);
  return value;
}

describe('outgoing frames', () => {
  it('joined carries the room, ids, peers in order, ICE servers, capacity and features', () => {
    const frame = joinedFrame({
      room: 'room_room_room_room_ro',
      peerId: A,
      resumeToken: B,
      peers: [B, A],
      iceServers: [{ urls: ['stun:stun.example.org'] }],
      capacity: 6,
    });
    expect(parsed(frame)).toEqual({
      v: 1,
      type: 'joined',
      room: 'room_room_room_room_ro',
      peerId: A,
      resumeToken: B,
      peers: [B, A],
      iceServers: [{ urls: ['stun:stun.example.org'] }],
      capacity: 6,
      features: ['park'],
    });
  });

  it('peer-joined (plain and for a parked message) and peer-left', () => {
    expect(parsed(peerJoinedFrame(A))).toEqual({ v: 1, type: 'peer-joined', peerId: A });
    expect(parsed(peerJoinedFrame(A, true))).toEqual({ v: 1, type: 'peer-joined', peerId: A, parked: true });
    expect(parsed(peerLeftFrame(B))).toEqual({ v: 1, type: 'peer-left', peerId: B });
  });

  it('signal and pong', () => {
    const data = { sdp: 'v=0\r\n"quoted" ünïcode ✓', n: [1, null] };
    expect(parsed(signalFrame(A, JSON.stringify(data)))).toEqual({ v: 1, type: 'signal', from: A, data });
    expect(parsed(PONG_FRAME)).toEqual({ v: 1, type: 'pong' });
  });

  it('every error code has a sentence, and a given message wins', () => {
    for (const code of ERROR_CODES) {
      const msg = parsed(errorFrame(code)) as { code: string; message: string };
      expect(msg.code).toBe(code);
      expect(msg.message).toMatch(/^[A-Z].*\.$/);
    }
    expect(parsed(errorFrame('room-full', 'Full (2 people).'))).toMatchObject({
      message: 'Full (2 people).',
    });
  });

  it('relayFrame copies canonical data bytes and re-serialises anything else to the same value', () => {
    const data = { candidate: 'a=candidate ü "x"', i: 3 };
    const canonical = JSON.stringify({ v: 1, type: 'signal', to: B, data });
    const fast = relayFrame(A, Buffer.from(canonical), canonical, B, data);
    expect(Buffer.isBuffer(fast)).toBe(true);
    expect(parsed(fast)).toEqual({ v: 1, type: 'signal', from: A, data });
    const reordered = JSON.stringify({ data, to: B, type: 'signal', v: 1 });
    const slow = relayFrame(A, Buffer.from(reordered), reordered, B, data);
    expect(typeof slow).toBe('string');
    expect(parsed(slow)).toEqual({ v: 1, type: 'signal', from: A, data });
  });
});
