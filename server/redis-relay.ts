/**
 * Signals between nodes (with `REDIS_URL`), for redis-rooms.ts: frames for peers on other
 * nodes are batched per target node for one turn of the event loop (signal-batch.ts) and go
 * out through RELAY_SCRIPT on a send-only connection with replies off (redis-publisher.ts):
 * published on the target node's own channel while that node is live (so only it reads them,
 * and Redis's cost is paid once per batch, not per message), else each record is kept in its
 * receiver's queue. Order holds: a node sends all its batches on that one connection, batches
 * keep their order, and Redis delivers a channel's messages in order.
 *
 * Receiving: this node's channel, and for a while the channel of a node its members resumed
 * from (listenAsMoved). A record is delivered to the local socket it names, in the room's
 * mirror (redis-rooms.ts), if its sender is still in that room. Records kept in a member's
 * queue are taken (read and deleted at once, so no two nodes deliver one) by the node it
 * resumes on, and by its own node when that node's subscriber is back after losing Redis.
 * A draining node leaves its live channel and waits for Redis to confirm it before its
 * clients are told; what still reaches it for them after that goes to their queues.
 */
import type { RedisClientType } from '@redis/client';
import type { Logger } from './log.ts';
import type { RedisConnection } from './redis-connection.ts';
import { connectPublisher } from './redis-publisher.ts';
import { RELAY_SCRIPT, TAKE_SCRIPT } from './redis-scripts.ts';
import type { Member, Outbox } from './rooms.ts';
import { decodeBatch, SignalBatcher } from './signal-batch.ts';

/** How long a node also hears the channel of a node a member resumed from, and takes that member's queue (listenAsMoved). */
const MOVED_LISTEN_MS = 10_000;
/** A batch of signals for one node stays below this (a PUBLISH Redis reads in one go). */
const MAX_BATCH_BYTES = 256 * 1024;
/** Signals kept for a node's members (RELAY_SCRIPT), at most this many bytes per node. */
const MAX_QUEUE_TEXT = String(16 * 1024 * 1024);
/** While listening as moved (listenAsMoved): how often the moved members' queues are taken. */
const QUEUE_POLL_MS = 250;
/** How often the relay's script is loaded again (see connectPublisher). */
const SCRIPT_RELOAD_MS = 5000;
/** Queues taken by one script call (a node back from losing Redis takes all its members'). */
const TAKE_CHUNK = 500;
/** A node back from losing Redis tries this many times, QUEUE_POLL_MS apart, to take its members' queues (its command connection may come back after its subscriber). */
const CATCH_UP_TRIES = 40;

/** What the relay reads of a room's mirror (redis-rooms.ts). */
export interface RelayRoom<M> {
  /** Every member: its socket when on this node, else the id of the node it is on. */
  peers: Map<string, M | string>;
  /** While a join of this node is in flight: the room's events (and signals) meanwhile. */
  log: Buffer[] | null;
}

export interface NodeRelayOptions<M extends Member> {
  redisUrl: string;
  prefix: string;
  /** This node's id. */
  node: string;
  resumeGraceMs: number;
  /** The sorted set of nodes' heartbeats (ms), and after how long without one a node is not live. */
  heartbeats: { key: string; silentMs: number };
  /** The subscriber connection (redis-connection.ts). */
  sub: RedisClientType;
  /** Subscribes a channel for as long as the node runs (redis-connection.ts). */
  keep: RedisConnection['keep'];
  /** A command connection whose string replies are Buffers. */
  buffers: Pick<RedisClientType, 'sendCommand'>;
  /** The mirror of a room this node holds, if any. */
  room(id: string): RelayRoom<M> | undefined;
  /** The members on this node: room id and peer id of each. */
  locals(): Iterable<readonly [room: string, peer: string]>;
  outbox: Outbox<M>;
  log: Logger;
}

export interface NodeRelay {
  /** Queues `frame` from peer `from` for peer `to` of room `room`, on node `toNode`; false if dropped. */
  send(toNode: string, room: string, to: string, from: string, frame: Buffer): boolean;
  /** Sends the batches waiting for this turn's end now (before a leave, so they arrive first). */
  flush(): void;
  /**
   * Member `peer` of `room` resumed here from node `from`: listen on that node's channel for a
   * while, and take what the member's queue holds, now and for that while. Resolves once
   * subscribed and the queue taken.
   */
  listenAsMoved(from: string, room: string, peer: string): Promise<unknown>;
  /**
   * This node drains: sends what is pending and leaves its live channel; resolves once Redis
   * has confirmed that (from then on signals for its members are kept in their queues,
   * RELAY_SCRIPT). Signals that still reach it for members it has told to go are kept there too.
   */
  drain(): Promise<void>;
  /**
   * After a heartbeat: if signals were kept for this node's members since it last looked (its
   * heartbeat was late, so other nodes took it for gone), takes and delivers them.
   */
  takeKept(): Promise<void>;
  /** The send-only connection is up (batches for other nodes are not dropped). */
  ready(): boolean;
  /** Sends what is pending and closes the send-only connection. */
  close(): Promise<void>;
}

export function isLocal<M extends Member>(value: M | string | undefined): value is M {
  return typeof value === 'object';
}

export function createNodeRelay<M extends Member>(o: NodeRelayOptions<M>): NodeRelay {
  const { prefix, node, sub, outbox, log } = o;
  const nodeChan = (id: string) => `${prefix}nc:${id}`;
  /** Only this node subscribes to its live channel: Redis sees it gone the moment it dies. */
  const liveChan = (id: string) => `${prefix}nl:${id}`;
  const queuePrefix = `${prefix}mq:`;
  const queueKey = (room: string, peer: string) => `${queuePrefix}${room}:${peer}`;
  /** Queues keep signals for a member for as long as it may resume. */
  const queueTtl = String(o.resumeGraceMs + MOVED_LISTEN_MS);
  /** Other nodes' channels listened on after members resumed here from them (listenAsMoved). */
  const moved = new Map<string, { ready: Promise<unknown>; timer: NodeJS.Timeout }>();
  /** Members that resumed here from another node: their queues are taken until `until`. */
  const movedPeers = new Map<string, { room: string; peer: string; until: number }>();
  let poll: NodeJS.Timeout | null = null;
  let closed = false;
  /** Draining: signals for members told to go are kept in their queues (once `left`). */
  let draining = false;
  /** Redis has confirmed that this node left its live channel. */
  let left = false;
  /** Signals for members told to go, waiting for `left` to be kept for them. */
  let requeued: [room: string, to: string, from: string, frame: Buffer][] = [];
  /**
   * From losing the subscriber until this node has taken its members' queues once it is back:
   * the batches on its own channel, held so that they come after the ones kept meanwhile.
   */
  let holding: Buffer[] | null = null;
  let losses = 0;
  let catching: Promise<void> = Promise.resolve();

  // Signals for members on this node (the client resubscribes after a reconnect, in one
  // SUBSCRIBE with the live channel), and the live channel that says this node is there.
  o.keep(nodeChan(node), onOwn);
  const live = o.keep(liveChan(node), () => {});
  const lost = () => {
    if (closed) return;
    holding ??= [];
    losses++;
  };
  // The client says 'reconnecting' whenever it lost its connection ('error' alone may be a
  // reply it could not parse, with the connection still up).
  sub.on('reconnecting', lost);
  // 'ready' comes once the client has subscribed again (Redis confirmed it): from then on
  // Redis publishes to this node, and whatever it kept before is in the members' queues.
  sub.on('ready', () => {
    if (holding !== null && !closed) catching = catching.then(catchUp);
  });

  function onOwn(batch: Buffer): void {
    if (holding !== null) holding.push(batch);
    else decodeBatch(batch, deliverOwn);
  }

  /** A batch on the channel of a node members resumed here from: most of it is not for us. */
  function onMoved(batch: Buffer): void {
    decodeBatch(batch, deliver);
  }

  /**
   * A signal for a member of this node (its own channel, its members' queues). Draining, one
   * for a room it no longer holds (its last member here has gone) is kept for that member.
   */
  function deliverOwn(to: string, from: string, room: string, frame: Buffer): void {
    if (draining && o.room(room) === undefined) requeue(room, to, from, frame);
    else deliver(to, from, room, frame);
  }

  /**
   * One signal for a member on this node (signal-batch.ts). A signal for a peer not (yet) here
   * while one of our joins to its room is in flight is kept with the room's events, so the
   * newcomer gets it once its join is admitted.
   *
   * A signal whose sender is no longer in the room is dropped: its node sends signals and its
   * leave on two connections, so Redis may see the leave first, and the room's members here
   * have then been told `peer-left` already (a node flushes its signals before it leaves, so
   * that is rare). Joins cannot overtake the other way: a peer learns its id only after its
   * join script has published the `J` every node hears first.
   *
   * Draining, a signal for a member this node has told to go is kept in its queue.
   */
  function deliver(to: string, from: string, room: string, frame: Buffer): void {
    const lr = o.room(room);
    if (lr === undefined) return;
    const target = lr.peers.get(to);
    if (isLocal(target)) {
      if (!lr.peers.has(from)) return;
      if (draining && target.closing) requeue(room, to, from, frame);
      else outbox.send(target, frame);
    } else if (draining && target === node) {
      if (lr.peers.has(from)) requeue(room, to, from, frame);
    } else lr.log?.push(Buffer.concat([Buffer.from(`S|${to}|${from}|`, 'latin1'), frame]));
  }

  /** Keeps a signal in its receiver's queue: sent to this node once it is no longer live. */
  function requeue(room: string, to: string, from: string, frame: Buffer): void {
    if (left) batcher.queue(node, room, to, from, frame);
    else requeued.push([room, to, from, frame]);
  }

  function leftLive(): void {
    left = true;
    for (const [room, to, from, frame] of requeued) batcher.queue(node, room, to, from, frame);
    requeued = [];
  }

  const publisher = connectPublisher(o.redisUrl, log, [RELAY_SCRIPT]);
  // The publisher loads its script on every connect; this puts it back should someone empty
  // the script cache of a running Redis (SCRIPT FLUSH), where batches would fail unseen.
  const reload = setInterval(() => {
    o.buffers.sendCommand(['SCRIPT', 'LOAD', RELAY_SCRIPT]).catch(() => {});
  }, SCRIPT_RELOAD_MS);
  reload.unref();
  const keptBytesKey = (id: string) => `${prefix}nqb:${id}`;
  const { key: heartbeatsKey, silentMs } = o.heartbeats;
  const batcher = new SignalBatcher({
    windowMs: 0,
    maxBytes: MAX_BATCH_BYTES,
    publish(toNode, parts, bytes) {
      // Two parts per record (signal-batch.ts): counted here, once sent or dropped (signals a
      // draining node keeps for its own members were counted when they came).
      const count = parts.length / 2;
      const keys = [nodeChan(toNode), liveChan(toNode), keptBytesKey(toNode), heartbeatsKey];
      const args = [queueTtl, MAX_QUEUE_TEXT, queuePrefix, toNode, String(Date.now() - silentMs)];
      if (publisher.evalWith(RELAY_SCRIPT, keys, parts, bytes, args)) {
        if (toNode !== node) outbox.relayed(count);
      } else {
        outbox.dropped(count);
        log.debug('relay dropped: redis unavailable');
      }
    },
  });

  /**
   * Takes the queues of these members (RELAY_SCRIPT kept their signals while their node was
   * not live) and delivers what they held, each member's in order.
   */
  async function take(members: Iterable<readonly [string, string]>): Promise<void> {
    const runs: Promise<unknown>[] = [];
    let keys: string[] = [];
    const run = () => {
      runs.push(o.buffers.sendCommand(['EVAL', TAKE_SCRIPT, String(keys.length), ...keys]));
      keys = [];
    };
    for (const [room, peer] of members) {
      keys.push(queueKey(room, peer));
      if (keys.length === TAKE_CHUNK) run();
    }
    if (keys.length > 0) run();
    let failed: unknown = null;
    for (const reply of await Promise.allSettled(runs)) {
      if (reply.status === 'rejected') failed = reply.reason;
      else for (const record of reply.value as Buffer[]) decodeBatch(record, deliverOwn);
    }
    if (failed !== null) throw failed;
  }

  /**
   * This node's subscriber is back after losing Redis: signals for its members sent meanwhile
   * were kept in their queues. Takes them, delivers them, then what came on its channel since
   * it subscribed again (held until now), so each member gets its signals in order, once.
   */
  async function catchUp(): Promise<void> {
    const since = losses;
    for (let tries = 1; !closed; tries++) {
      try {
        await take(o.locals());
        break;
      } catch (err) {
        if (tries >= CATCH_UP_TRIES) {
          log.warn(
            { err: (err as Error).message },
            "could not take the signals kept for this node's members",
          );
          break;
        }
        await new Promise((r) => setTimeout(r, QUEUE_POLL_MS));
      }
    }
    // Lost again meanwhile: the next 'ready' takes the queues again, then lets these go.
    if (losses !== since || !sub.isReady) return;
    const held = holding ?? [];
    holding = null;
    for (const batch of held) decodeBatch(batch, deliverOwn);
  }

  /**
   * A member resumed here from another node (that node died or drains, or its old socket is
   * not yet noticed as gone). The other nodes route signals for it by their mirrors, which
   * still name the old node until they have read the room's `R` event: a signal sent in that
   * moment goes to the old node. If that node is still live it is published on its channel,
   * where nobody may listen any more by the time it arrives: so this node listens on that
   * channel too for MOVED_LISTEN_MS (long past any node's lag behind the event) and delivers
   * what is for its own members; the rest it drops, as on its own channel. If it is gone,
   * signals for the member (also those sent while it was reconnecting) are kept in its queue
   * (RELAY_SCRIPT): this node takes that now, before the member hears `joined`, and then every
   * QUEUE_POLL_MS while it listens.
   */
  function listenAsMoved(from: string, room: string, peer: string): Promise<unknown> {
    let listening = moved.get(from);
    if (listening !== undefined) listening.timer.refresh();
    else {
      const ready = sub.subscribe(nodeChan(from), onMoved, true);
      ready.catch(() => {});
      const timer = setTimeout(() => {
        moved.delete(from);
        sub.unsubscribe(nodeChan(from)).catch(() => {});
      }, MOVED_LISTEN_MS);
      timer.unref();
      listening = { ready, timer };
      moved.set(from, listening);
    }
    movedPeers.set(`${room}:${peer}`, { room, peer, until: Date.now() + MOVED_LISTEN_MS });
    if (poll === null) {
      poll = setInterval(pollMoved, QUEUE_POLL_MS);
      poll.unref();
    }
    return Promise.all([listening.ready, take([[room, peer]])]);
  }

  /** Takes the queues of the members that resumed here lately and are still here. */
  function pollMoved(): void {
    const now = Date.now();
    const due: [string, string][] = [];
    for (const [key, m] of movedPeers) {
      if (m.until < now) movedPeers.delete(key);
      else if (isLocal(o.room(m.room)?.peers.get(m.peer))) due.push([m.room, m.peer]);
    }
    if (movedPeers.size === 0 && poll !== null) {
      clearInterval(poll);
      poll = null;
    }
    if (due.length > 0) take(due).catch(() => {});
  }

  /** The count of bytes kept for this node (RELAY_SCRIPT) when it last looked. */
  let keptSeen = '';
  async function takeKept(): Promise<void> {
    if (draining || closed) return;
    const kept = (await o.buffers.sendCommand(['GET', keptBytesKey(node)])) as Buffer | null;
    const now = kept === null ? '' : kept.toString();
    if (now === keptSeen) return;
    keptSeen = now;
    if (now !== '') await take(o.locals());
  }

  return {
    takeKept,
    ready: () => publisher.ready,
    send(toNode, room, to, from, frame) {
      return publisher.ready && batcher.queue(toNode, room, to, from, frame);
    },
    flush: () => batcher.flush(),
    listenAsMoved,
    async drain() {
      draining = true;
      batcher.flush();
      try {
        await live.drop();
      } finally {
        leftLive();
      }
    },
    async close() {
      closed = true;
      clearInterval(reload);
      if (poll !== null) clearInterval(poll);
      for (const { timer } of moved.values()) clearTimeout(timer);
      if (draining && !left) leftLive();
      batcher.close();
      await publisher.close();
    },
  };
}
