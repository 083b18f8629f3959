/**
 * A node's mirror of one room it has members in (with `REDIS_URL`, redis-rooms.ts): who is in
 * it and where (a local socket, or the id of the node it is on), kept current by the room's
 * events (published by the scripts of redis-scripts.ts, numbered, applied in order), so a
 * relay needs no Redis read.
 */
import { peerJoinedFrame, peerLeftFrame } from './frames.ts';
import { isLocal } from './redis-relay.ts';
import type { Member, Outbox } from './rooms.ts';

export interface LocalRoom<M> {
  readonly id: string;
  readonly key: string;
  readonly chan: string;
  /** The last room event applied (scripts number them). */
  ver: number;
  /** Every member: its socket when on this node, else the id of the node it is on. */
  peers: Map<string, M | string>;
  /** Members on this node. */
  local: number;
  /** Joins of this node in flight for this room; events meanwhile are kept in `log`. */
  inflight: number;
  log: Buffer[] | null;
  sub: Promise<unknown>;
  /** A team room's key (every join of it carries the same one); null for other rooms. */
  teamKey: string | null;
}

/** What applying an event needs from the node. */
export interface MirrorContext<M extends Member> {
  /** This node's id. */
  node: string;
  outbox: Outbox<M>;
  /** A local member was replaced from another node: forget the room if nobody here is left. */
  dropIfEmpty(lr: LocalRoom<M>): void;
}

/**
 * Applies one room event. With `only` (a member that just joined) it is a replay of an
 * event that arrived while its join was in flight: only that member hears of it.
 */
export function applyEvent<M extends Member>(
  lr: LocalRoom<M>,
  message: Buffer,
  only: M | null,
  on: MirrorContext<M>,
): void {
  const { node, outbox } = on;
  if (message[0] === 0x53 /* S|to|from|frame: a signal kept while a join was in flight (redis-relay.ts) */) {
    const to = message.toString('latin1', 2, 24);
    const from = message.toString('latin1', 25, 47);
    const target = lr.peers.get(to);
    if (isLocal(target) && (only === null || target === only) && lr.peers.has(from)) {
      outbox.send(target, message.subarray(48));
    }
    return;
  }
  const [kind, verText, pid = '', a = '', b = ''] = message.toString().split('|');
  const ver = Number(verText);
  if (only !== null) {
    if (ver <= lr.ver) return;
  } else if (ver > lr.ver) lr.ver = ver;
  if (kind === 'J') {
    if (!isLocal(lr.peers.get(pid))) lr.peers.set(pid, b);
    const parkedBy = a === '' ? [] : a.split(',');
    for (const m of only === null ? lr.peers.values() : [only]) {
      if (isLocal(m) && m.peerId !== pid) outbox.send(m, peerJoinedFrame(pid, parkedBy.includes(m.peerId)));
    }
  } else if (kind === 'L') {
    const cur = lr.peers.get(pid);
    if (cur === undefined || isLocal(cur)) return;
    lr.peers.delete(pid);
    for (const m of only === null ? lr.peers.values() : [only])
      if (isLocal(m)) outbox.send(m, peerLeftFrame(pid));
  } else if (kind === 'A') {
    // Re-asserted by its node after Redis came back empty: known again; news only if missed.
    const cur = lr.peers.get(pid);
    if (isLocal(cur)) return;
    lr.peers.set(pid, b);
    if (cur !== undefined) return;
    for (const m of only === null ? lr.peers.values() : [only])
      if (isLocal(m) && m.peerId !== pid) outbox.send(m, peerJoinedFrame(pid));
  } else if (kind === 'R' && a !== node) {
    // Resumed on another node: if we still hold its old socket, that one is replaced.
    const old = lr.peers.get(pid);
    lr.peers.set(pid, a);
    if (isLocal(old)) {
      old.room = null;
      lr.local--;
      outbox.replaced(old);
      on.dropIfEmpty(lr);
    }
  }
}
