/**
 * Team rooms: a room people come back to, with the same link every time
 * (`<server>/r/<room>#<secret>`, the format of every Parley link).
 *
 * The room id is derived from the secret, so that the server can tell who knows the secret
 * without ever seeing it:
 *
 *   key  = HMAC-SHA256(UTF-8(secret), "parley team room v1")          (32 bytes)
 *   room = base64url(SHA-256(key))                                      (43 characters)
 *
 * Ordinary call rooms are 16 random bytes (22 characters), so a 43-character room id is a
 * team room. Every join of a team room carries `key`; the server checks SHA-256(key) = room
 * and keeps the key only while someone is in the room. Someone who knows only the room id (it
 * is in the link's path, so in server logs and browser history) cannot find the key, so can
 * neither join nor count. A count (`count` message) proves the key afresh without sending it:
 * an HMAC over a nonce the server gave this socket and the room id (countProof).
 * The link secret itself (which authenticates the peers' descriptions) never leaves the
 * browsers; the key is one-way from it.
 */
import { fromBase64Url, hmacSha256, sha256, toBase64Url, utf8 } from '../identity/bytes.ts';
import { randomBase64Url } from './link.ts';

export { COUNT_NONCE_PATTERN, COUNT_PROOF_PATTERN, TEAM_KEY_PATTERN } from './signaling.ts';

/** A team room's id: base64url of a SHA-256 digest. */
export const TEAM_ROOM_ID_LENGTH = 43;

const KEY_LABEL = 'parley team room v1';
export const COUNT_LABEL = 'parley room count v1';

export function isTeamRoomId(room: string): boolean {
  return room.length === TEAM_ROOM_ID_LENGTH;
}

/** The key of a team room from its link secret (base64url). */
export async function teamRoomKey(secret: string): Promise<string> {
  return toBase64Url(await hmacSha256(utf8(secret), utf8(KEY_LABEL)));
}

/** The room id that belongs to a key. */
export async function teamRoomIdOf(key: string): Promise<string> {
  const bytes = fromBase64Url(key);
  if (bytes === null) throw new Error('Not a team room key.');
  return toBase64Url(await sha256(bytes));
}

/** A new team room: a fresh secret and the room id it makes. */
export async function newTeamRoomLink(): Promise<{ room: string; secret: string }> {
  const secret = randomBase64Url(16);
  return { room: await teamRoomIdOf(await teamRoomKey(secret)), secret };
}

/**
 * The key to present when joining `room` with `secret`: for a team room, the key (checked
 * against the room id: a link whose secret does not make its room id gets an error); for an
 * ordinary room, undefined (nothing extra is sent).
 */
export async function joinKeyFor(room: string, secret: string): Promise<string | undefined> {
  if (!isTeamRoomId(room)) return undefined;
  const key = await teamRoomKey(secret);
  if ((await teamRoomIdOf(key)) !== room)
    throw new Error('This team room link is damaged: its secret does not fit.');
  return key;
}

function countMessage(nonce: string, room: string): Uint8Array<ArrayBuffer> {
  return utf8(`${COUNT_LABEL}\n${nonce}\n${room}`);
}

/** The proof for a `count` of `room` on a socket the server gave `nonce`. */
export async function countProof(key: string, nonce: string, room: string): Promise<string> {
  const bytes = fromBase64Url(key);
  if (bytes === null) throw new Error('Not a team room key.');
  return toBase64Url(await hmacSha256(bytes, countMessage(nonce, room)));
}
