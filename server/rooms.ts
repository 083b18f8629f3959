/**
 * The server's room state behind one interface: rooms, their members in join order, parked
 * messages and resume tokens. Two implementations:
 *
 * - memory-rooms.ts: everything in this process (the default, a single `npm start`);
 * - redis-rooms.ts: the state in Redis, so that any node behind a load balancer serves any
 *   client (with `REDIS_URL`).
 *
 * The socket side (signaling.ts) owns sockets, limits and parsing; it hands each decoded
 * room message to a `Rooms`, which answers through an `Outbox`. A member is the socket's own
 * `Connection` object: the fields below are kept on it (no separate member object), and
 * `room` belongs to the implementation.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ErrorCode, JoinMessage, SignalOutMessage } from '../src/protocol/signaling.ts';
import { COUNT_LABEL, TEAM_ROOM_ID_LENGTH } from '../src/protocol/team-room.ts';
import type { RejectionReason } from './metrics.ts';

export interface Member {
  /** The implementation's handle for the member's room; null while not in one. */
  room: object | null;
  peerId: string;
  /** First 128 bits of sha256(resume token), base64url; the token itself is never stored. */
  tokenHash: string;
  /** The JSON text of this peer's parked message for the next joiner (`park`), if any. */
  parked: string | null;
  /** Set once the socket is being closed: nothing more is sent to it or taken from it. */
  closing: boolean;
}

/** How a `Rooms` talks back to sockets on this node. */
export interface Outbox<M extends Member> {
  send(member: M, frame: string | Buffer): void;
  /** Counts the rejection and sends the error (default text for the code unless given). */
  reject(member: M, code: ErrorCode & RejectionReason, message?: string): void;
  /** The error, then the socket is closed so the client retries later (join while unavailable). */
  refuse(member: M, code: ErrorCode, message?: string): void;
  /** This socket's peer id was resumed by a newer socket: close it (4010). */
  replaced(member: M): void;
  /** A resume (seamless or not) went through. */
  resumed(): void;
  /** Signals went out (to a local socket, or to Redis for a peer on another node); 1 if not given. */
  relayed(count?: number): void;
  /** Signals for peers on other nodes not sent because Redis was unreachable. */
  dropped(count: number): void;
}

export interface Rooms<M extends Member> {
  /** Joins (or resumes into) `msg.room`; answers with `joined` or an error, maybe later. */
  join(member: M, msg: JoinMessage): void;
  /** True while a join of this member is in flight (a second one is `already-joined`). */
  joining(member: M): boolean;
  /** Leaves its room; `resumable` keeps the peer id reclaimable for the resume grace. */
  depart(member: M, resumable: boolean): void;
  /** Keeps (or with null drops) the member's parked message for the next joiner. */
  park(member: M, dataJson: string | null): void;
  /**
   * Forwards a valid `signal` from a joined member to `msg.to` in its room; false when there
   * is no such other peer (`unknown-peer`).
   */
  relay(member: M, msg: SignalOutMessage, frame: Buffer, text: string): boolean;
  /**
   * A team room's key and how many people are in it now (away peers not counted), or null
   * when nobody is (the room is not kept then). Rejects when the room store is unreachable.
   */
  team(room: string): Promise<{ key: string; people: number } | null>;
  /** Rooms with a member (or, in memory, an away peer) on this node. */
  count(): number;
  /**
   * Joins can go through: always in memory; with Redis, while this node's connections to it
   * are up and it listens on its own channels (/readyz says 503 otherwise).
   */
  ready(): boolean;
  /**
   * The node is going away and is about to close its sockets: memory keeps no away peers from
   * now on; Redis keeps this node's members so that their clients resume on another node, and
   * resolves once other nodes no longer send it their signals (the clients may be told then).
   */
  drain(): Promise<void>;
  /** After the sockets are gone: memory forgets every room, Redis lets go of its connections. */
  close(): Promise<void>;
}

export function hashToken(token: string): string {
  // toString on a sub-range makes a fresh 22-char string; `.slice` of the 43-char digest
  // would keep the whole digest string alive behind a sliced string.
  return createHash('sha256').update(token).digest().toString('base64url', 0, 16);
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A join of a team room (43-character id) must carry the key whose SHA-256 is the room id; a
 * join of any other room must carry none. The error to send, or null when the join may go on.
 */
export function joinKeyError(room: string, key: string | undefined): string | null {
  if (room.length !== TEAM_ROOM_ID_LENGTH) {
    return key === undefined ? null : 'Only a team room takes a key.';
  }
  if (key === undefined) return 'This is a team room: join it with the key from its link.';
  const id = createHash('sha256').update(Buffer.from(key, 'base64url')).digest('base64url');
  return id === room ? null : 'That key does not open this team room (the link may be damaged).';
}

/** Whether `proof` is HMAC-SHA256(key, count message) for this nonce and room. */
export function countProofHolds(key: string, nonce: string, room: string, proof: string): boolean {
  const want = createHmac('sha256', Buffer.from(key, 'base64url'))
    .update(`${COUNT_LABEL}\n${nonce}\n${room}`)
    .digest();
  const got = Buffer.from(proof, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A fresh 128-bit id, base64url (22 characters): peer ids and resume tokens. */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}
