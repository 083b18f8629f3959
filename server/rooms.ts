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
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ErrorCode, JoinMessage, SignalOutMessage } from '../src/protocol/signaling.ts';
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
  /** A signal went out (locally or to another node). */
  relayed(): void;
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
  /** Rooms with a member (or, in memory, an away peer) on this node. */
  count(): number;
  /**
   * The node is going away and is about to close its sockets: memory keeps no away peers from
   * now on; Redis keeps this node's members so that their clients resume on another node.
   */
  drain(): void;
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

/** A fresh 128-bit id, base64url (22 characters): peer ids and resume tokens. */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}
