import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { formatShareLink, parseShareLink } from '../src/protocol/link.ts';
import { CountSchema, JoinSchema, ROOM_ID_PATTERN } from '../src/protocol/signaling.ts';
import {
  countProof,
  isTeamRoomId,
  joinKeyFor,
  newTeamRoomLink,
  teamRoomIdOf,
  teamRoomKey,
} from '../src/protocol/team-room.ts';
import { countProofHolds, joinKeyError } from './rooms.ts';

describe('team rooms', () => {
  it('makes a 43-character room id from the secret that an ordinary link carries', async () => {
    const { room, secret } = await newTeamRoomLink();
    expect(room).toMatch(ROOM_ID_PATTERN);
    expect(isTeamRoomId(room)).toBe(true);
    expect(room).toBe(await teamRoomIdOf(await teamRoomKey(secret)));
    const link = formatShareLink({ server: 'http://127.0.0.1:8787', room, secret });
    expect(parseShareLink(link)).toEqual({ server: 'http://127.0.0.1:8787', room, secret });
    // A fresh secret each time, so a fresh room.
    expect((await newTeamRoomLink()).room).not.toBe(room);
  });

  it('the server admits a join only with the key that makes the room id', async () => {
    const { room, secret } = await newTeamRoomLink();
    const key = await joinKeyFor(room, secret);
    expect(key).toBeDefined();
    expect(v.safeParse(JoinSchema, { v: 1, type: 'join', room, key }).success).toBe(true);
    expect(joinKeyError(room, key)).toBeNull();
    expect(joinKeyError(room, undefined)).toMatch(/team room/);
    const other = await teamRoomKey((await newTeamRoomLink()).secret);
    expect(joinKeyError(room, other)).toMatch(/does not open/);
    // An ordinary room takes no key, and an ordinary link sends none.
    const ordinary = 'abcdefghijklmnopqrstuv';
    expect(await joinKeyFor(ordinary, secret)).toBeUndefined();
    expect(joinKeyError(ordinary, undefined)).toBeNull();
    expect(joinKeyError(ordinary, key)).toMatch(/Only a team room/);
    // A damaged link (secret changed) is caught before joining.
    await expect(
      joinKeyFor(room, `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`),
    ).rejects.toThrow(/damaged/);
  });

  it('a count proof (WebCrypto) holds on the server (node:crypto) for its nonce and room only', async () => {
    const { room, secret } = await newTeamRoomLink();
    const key = await teamRoomKey(secret);
    const nonce = 'nnnnnnnnnnnnnnnnnnnnnn';
    const proof = await countProof(key, nonce, room);
    expect(v.safeParse(CountSchema, { v: 1, type: 'count', room, proof }).success).toBe(true);
    expect(countProofHolds(key, nonce, room, proof)).toBe(true);
    expect(countProofHolds(key, 'mmmmmmmmmmmmmmmmmmmmmm', room, proof)).toBe(false);
    const other = await newTeamRoomLink();
    expect(countProofHolds(key, nonce, other.room, proof)).toBe(false);
    expect(countProofHolds(await teamRoomKey(other.secret), nonce, room, proof)).toBe(false);
  });
});
