/**
 * The presence state shared between nodes, behind one interface so that presence.ts (the
 * protocol: challenges, signatures, invites, the life of a ring) does not care where it lives:
 * which connection receives rings for which mailbox, the ring rate limits, the call ids
 * already rung, and how a ring reaches a connection on another node.
 *
 * - createMemoryDirectory (here): everything in this process, the default.
 * - createRedisDirectory (redis-presence.ts, with `REDIS_URL`): mailbox → node + session in
 *   Redis, token buckets and call ids in Redis (so limits hold across nodes), ring events
 *   and mailboxes coming and going (for watchers) between nodes over pub/sub.
 */
import type { Invite, RingAnswer } from '../src/protocol/presence.ts';
import { type BucketLimits, type BucketState, take } from './token-bucket.ts';

/** A presence session on another node, as that node names it. */
export interface RemoteSession {
  readonly node: string;
  readonly id: string;
}

/** What one node tells another about a ring; `to` is the receiving node's session id. */
export type RingEvent =
  | { type: 'ring'; to: string; from: RemoteSession; invite: Invite }
  | { type: 'answer'; to: string; from: RemoteSession; callId: string; answer: RingAnswer };

export interface RingLimits {
  /** Rings one key (and, separately, one client IP) may send at once. */
  ringBurst: number;
  /** Tokens refilled per minute. */
  ringPerMin: number;
}

export interface PresenceDirectory<S> {
  /** Rings for `mailbox` go to `session` from now on (a newer registration takes it over). */
  set(mailbox: string, session: S): void;
  /** Stops routing `mailbox` to `session`; a no-op if another session holds it now. */
  delete(mailbox: string, session: S): void;
  /** The session on this node holding `mailbox`, if any. */
  get(mailbox: string): S | undefined;
  /**
   * Tells the other nodes' watchers that `mailbox` came online or went offline on this node
   * (offline only if no other node holds it now). This node's own watchers are told by the
   * caller.
   */
  announce(mailbox: string, online: boolean): void;
  /** Mailboxes coming and going on other nodes (a node that died: its mailboxes go offline). */
  onPresence(handler: (mailbox: string, online: boolean) => void): void;
  /**
   * Which of `mailboxes` are online on any node (this node's answer at once; with other
   * nodes, once the shared store has answered).
   */
  online(mailboxes: readonly string[]): readonly string[] | Promise<readonly string[]>;
  /** Where a ring for `mailbox` goes: a session here, a session on another node, or offline. */
  lookup(mailbox: string): Promise<S | RemoteSession | undefined>;
  /** Takes a ring token from the caller key's bucket and the client IP's, or from neither. */
  takeRingToken(key: string, ip: string, now: number): Promise<boolean>;
  /** Records `callId` as rung until `until`; false if it already was (a replayed invite). */
  claimCallId(callId: string, until: number, now: number): Promise<boolean>;
  /** How sessions on other nodes address `session`. */
  address(session: S): RemoteSession;
  /** Sends a ring event to a session on another node (lost if the shared store is away). */
  send(to: RemoteSession, event: RingEvent): void;
  /** Ring events from other nodes; `session` is undefined when the addressed one is gone. */
  onEvent(handler: (session: S | undefined, event: RingEvent) => void): void;
  /** The session is gone for good: its address answers nothing any more. */
  forget(session: S): void;
  /** Mailboxes routed to sessions on this node (for metrics). */
  size(): number;
  /** Rings can go through: always in memory; with Redis, while its connections are up. */
  ready(): boolean;
  close(): Promise<void>;
}

const PRUNE_MS = 60_000;

export function createMemoryDirectory<S>(
  limits: RingLimits = { ringBurst: 10, ringPerMin: 6 },
): PresenceDirectory<S> {
  const byMailbox = new Map<string, S>();
  const ringLimits: BucketLimits = { burst: limits.ringBurst, perSec: limits.ringPerMin / 60 };
  const ringBucketsByKey = new Map<string, BucketState>();
  const ringBucketsByIp = new Map<string, BucketState>();
  /** Call ids rung recently (until their invite expired): a replayed ring is refused. */
  const usedCallIds = new Map<string, number>();

  const prune = setInterval(() => {
    const now = Date.now();
    for (const map of [ringBucketsByKey, ringBucketsByIp]) {
      for (const [id, bucket] of map) {
        // A bucket that has refilled completely is the same as no bucket.
        if (bucket.tokens + ((now - bucket.refilledAt) * ringLimits.perSec) / 1000 >= ringLimits.burst) {
          map.delete(id);
        }
      }
    }
    for (const [callId, until] of usedCallIds) if (until <= now) usedCallIds.delete(callId);
  }, PRUNE_MS);
  prune.unref();

  function bucket(map: Map<string, BucketState>, id: string, now: number): BucketState {
    let b = map.get(id);
    if (b === undefined) {
      b = { tokens: ringLimits.burst, refilledAt: now };
      map.set(id, b);
    }
    return b;
  }

  return {
    set(mailbox, session) {
      byMailbox.set(mailbox, session);
    },
    delete(mailbox, session) {
      if (byMailbox.get(mailbox) === session) byMailbox.delete(mailbox);
    },
    get: (mailbox) => byMailbox.get(mailbox),
    // One process: nobody else to tell, nobody else who tells.
    announce() {},
    onPresence() {},
    online: (mailboxes) => mailboxes.filter((id) => byMailbox.has(id)),
    lookup: async (mailbox) => byMailbox.get(mailbox),
    async takeRingToken(key, ip, now) {
      const byKey = bucket(ringBucketsByKey, key, now);
      const byIp = bucket(ringBucketsByIp, ip, now);
      // Both must have a token; take from neither unless both do.
      const keyOk = take(byKey, ringLimits, now);
      const ipOk = keyOk && take(byIp, ringLimits, now);
      if (keyOk && !ipOk) byKey.tokens += 1;
      return ipOk;
    },
    async claimCallId(callId, until, now) {
      const used = usedCallIds.get(callId);
      if (used !== undefined && used > now) return false;
      usedCallIds.set(callId, until);
      return true;
    },
    // One process: no other node ever addresses a session, and nothing is sent to one.
    address: () => ({ node: '', id: '' }),
    send() {},
    onEvent() {},
    forget() {},
    size: () => byMailbox.size,
    ready: () => true,
    async close() {
      clearInterval(prune);
    },
  };
}
