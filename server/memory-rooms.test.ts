import { afterEach, describe, expect, it, vi } from 'vitest';
import type { JoinMessage } from '../src/protocol/signaling.ts';
import { newTeamRoomLink, teamRoomKey } from '../src/protocol/team-room.ts';
import { relayFrame } from './frames.ts';
import { createLogger } from './log.ts';
import { createMemoryRooms } from './memory-rooms.ts';
import type { Member, Outbox, Rooms } from './rooms.ts';

// biome-ignore lint/suspicious/noExplicitAny: frames are inspected loosely on purpose
type Msg = Record<string, any>;

class FakeMember implements Member {
  room: object | null = null;
  peerId = '';
  tokenHash = '';
  parked: string | null = null;
  closing = false;
  readonly got: Msg[] = [];
  /** Messages received since the last call. */
  take(): Msg[] {
    return this.got.splice(0);
  }
}

function setup(capacity = 2, resumeGraceMs = 1000) {
  const counts = { resumed: 0, relayed: 0 };
  const outbox: Outbox<FakeMember> = {
    send: (m, frame) => m.got.push(JSON.parse(frame.toString()) as Msg),
    reject: (m, code, message) => m.got.push({ type: 'error', code, message }),
    refuse: (m, code) => m.got.push({ type: 'error', code, refused: true }),
    replaced: (m) => {
      m.closing = true;
      m.got.push({ type: 'replaced' });
    },
    resumed: () => counts.resumed++,
    relayed: () => counts.relayed++,
    dropped: () => {
      throw new Error('memory rooms never drop a signal');
    },
  };
  const rooms: Rooms<FakeMember> = createMemoryRooms(
    { roomCapacity: capacity, resumeGraceMs },
    outbox,
    () => [{ urls: 'stun:stun.example.org' }],
    createLogger('silent'),
  );
  function join(room: string, resume?: { peerId: string; token: string }, key?: string): [FakeMember, Msg] {
    const m = new FakeMember();
    const msg: JoinMessage = {
      v: 1,
      type: 'join',
      room,
      ...(resume ? { resume } : {}),
      ...(key ? { key } : {}),
    };
    rooms.join(m, msg);
    return [m, m.take()[0] ?? {}];
  }
  function signal(from: FakeMember, to: string, data: unknown): boolean {
    const text = JSON.stringify({ v: 1, type: 'signal', to, data });
    return rooms.relay(from, { v: 1, type: 'signal', to, data }, Buffer.from(text), text);
  }
  return { rooms, counts, join, signal };
}

const ROOM = 'room_room_room_room_ro';

afterEach(() => {
  vi.useRealTimers();
});

describe('rooms in memory', () => {
  it('joins in order: ids, peers oldest first, capacity, and the others hear of the newcomer', () => {
    const { join, rooms } = setup(3);
    const [a, ja] = join(ROOM);
    expect(ja).toMatchObject({ type: 'joined', room: ROOM, peers: [], capacity: 3 });
    expect(ja.peerId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const [, jb] = join(ROOM);
    const [, jc] = join(ROOM);
    expect(jc.peers).toEqual([ja.peerId, jb.peerId]);
    expect(new Set([ja.peerId, jb.peerId, jc.peerId]).size).toBe(3);
    expect(a.take()).toEqual([
      { v: 1, type: 'peer-joined', peerId: jb.peerId },
      { v: 1, type: 'peer-joined', peerId: jc.peerId },
    ]);
    expect(rooms.count()).toBe(1);
  });

  it('holds its capacity: the next joiner gets room-full and the room is unchanged', () => {
    const { join } = setup(2);
    const [a] = join(ROOM);
    join(ROOM);
    a.take();
    const [late, reply] = join(ROOM);
    expect(reply).toMatchObject({ type: 'error', code: 'room-full' });
    expect(late.room).toBeNull();
    expect(a.take()).toEqual([]);
  });

  it('relays a signal to the named peer only, as from the sender, and refuses unknown or own ids', () => {
    const { join, signal, counts } = setup(3);
    const [a, ja] = join(ROOM);
    const [b, jb] = join(ROOM);
    const [c] = join(ROOM);
    for (const m of [a, b, c]) m.take();
    expect(signal(a, jb.peerId, { sdp: 'x' })).toBe(true);
    expect(b.take()).toEqual([{ v: 1, type: 'signal', from: ja.peerId, data: { sdp: 'x' } }]);
    expect(c.take()).toEqual([]);
    expect(signal(a, ja.peerId, 1)).toBe(false);
    expect(signal(a, 'ZZZZZZZZZZZZZZZZZZZZZZ', 1)).toBe(false);
    expect(counts.relayed).toBe(1);
  });

  it('hands a parked message to the next joiner right after joined, and tells the parker', () => {
    const { join, rooms } = setup(2);
    const [a, ja] = join(ROOM);
    rooms.park(a, JSON.stringify({ type: 'offer', sdp: 'v=0' }));
    const b = new FakeMember();
    rooms.join(b, { v: 1, type: 'join', room: ROOM });
    const got = b.take();
    expect(got.map((m) => m.type)).toEqual(['joined', 'signal']);
    expect(got[1]).toEqual({ v: 1, type: 'signal', from: ja.peerId, data: { type: 'offer', sdp: 'v=0' } });
    expect(a.take()).toEqual([{ v: 1, type: 'peer-joined', peerId: got[0]?.peerId, parked: true }]);
    expect(a.parked).toBeNull();
  });

  it('a parked message withdrawn with null is not handed out', () => {
    const { join, rooms } = setup(2);
    const [a] = join(ROOM);
    rooms.park(a, '"offer"');
    rooms.park(a, null);
    const [b] = join(ROOM);
    expect(b.take()).toEqual([]);
    expect(a.take()).toMatchObject([{ type: 'peer-joined' }]);
  });

  it('resumes seamlessly on a live id: the old member is replaced, the others hear nothing', () => {
    const { join, counts, signal } = setup(2);
    const [a, ja] = join(ROOM);
    const [b, jb] = join(ROOM);
    a.take();
    const [a2, again] = join(ROOM, { peerId: ja.peerId, token: ja.resumeToken });
    expect(again).toMatchObject({ type: 'joined', peerId: ja.peerId, peers: [jb.peerId] });
    expect(again.resumeToken).not.toBe(ja.resumeToken);
    expect(a.take()).toEqual([{ type: 'replaced' }]);
    expect(b.take()).toEqual([]);
    expect(counts.resumed).toBe(1);
    expect(signal(b, ja.peerId, 'hi')).toBe(true);
    expect(a2.take()).toEqual([{ v: 1, type: 'signal', from: jb.peerId, data: 'hi' }]);
    // The old token was single-use.
    const [, thief] = join(ROOM, { peerId: ja.peerId, token: ja.resumeToken });
    expect(thief).toMatchObject({ type: 'error', code: 'room-full' });
  });

  it('reclaims an id within the grace after a resumable departure, not after it or after leave', () => {
    vi.useFakeTimers();
    const { join, rooms } = setup(2, 1000);
    const [a, ja] = join(ROOM);
    const [b, jb] = join(ROOM);
    rooms.depart(b, true);
    expect(a.take()).toEqual([
      { v: 1, type: 'peer-joined', peerId: jb.peerId },
      { v: 1, type: 'peer-left', peerId: jb.peerId },
    ]);
    const [b2, back] = join(ROOM, { peerId: jb.peerId, token: jb.resumeToken });
    expect(back).toMatchObject({ type: 'joined', peerId: jb.peerId, peers: [ja.peerId] });
    expect(a.take()).toEqual([{ v: 1, type: 'peer-joined', peerId: jb.peerId }]);

    rooms.depart(b2, true);
    vi.advanceTimersByTime(1001);
    const [, late] = join(ROOM, { peerId: jb.peerId, token: back.resumeToken });
    expect(late).toMatchObject({ type: 'joined', peers: [ja.peerId] });
    expect(late.peerId).not.toBe(jb.peerId);

    rooms.depart(a, false);
    const [, afterLeave] = join(ROOM, { peerId: ja.peerId, token: ja.resumeToken });
    expect(afterLeave).toMatchObject({ type: 'joined', peers: [late.peerId] });
    expect(afterLeave.peerId).not.toBe(ja.peerId);
  });

  it('forgets empty rooms once nobody can come back, and keeps no away peers while draining', () => {
    vi.useFakeTimers();
    const { join, rooms } = setup(2, 1000);
    const [a] = join(ROOM);
    rooms.depart(a, true);
    expect(rooms.count()).toBe(1);
    vi.advanceTimersByTime(1001);
    expect(rooms.count()).toBe(0);
    const [b] = join(ROOM);
    rooms.drain();
    rooms.depart(b, true);
    expect(rooms.count()).toBe(0);
  });

  it('relayFrame gives the same message the member receives', () => {
    const { join, signal } = setup(2);
    const [a, ja] = join(ROOM);
    const [b, jb] = join(ROOM);
    a.take();
    signal(a, jb.peerId, [1, 'two']);
    const text = JSON.stringify({ v: 1, type: 'signal', to: jb.peerId, data: [1, 'two'] });
    expect(b.take()).toEqual([
      JSON.parse(relayFrame(ja.peerId, Buffer.from(text), text, jb.peerId, 0).toString()),
    ]);
  });

  it('team room: its key and live people while someone is in it; nothing kept once empty', async () => {
    vi.useFakeTimers();
    const { join, rooms } = setup(6, 1000);
    const { room, secret } = await newTeamRoomLink();
    const key = await teamRoomKey(secret);
    expect(await rooms.team(room)).toBeNull();
    const [a] = join(room, undefined, key);
    const [b, jb] = join(room, undefined, key);
    expect(jb).toMatchObject({ type: 'joined', room });
    expect(await rooms.team(room)).toEqual({ key, people: 2 });
    // An ordinary room has no key: never counted.
    join(ROOM);
    expect(await rooms.team(ROOM)).toBeNull();
    rooms.depart(a, true);
    // Away (resumable) is not in the call.
    expect(await rooms.team(room)).toEqual({ key, people: 1 });
    rooms.depart(b, false);
    expect(await rooms.team(room)).toBeNull();
    expect(rooms.count()).toBe(2);
    vi.advanceTimersByTime(1001);
    // The away peer's grace ran out: the team room is gone (only the ordinary room is left).
    expect(rooms.count()).toBe(1);
  });
});
