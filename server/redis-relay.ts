/**
 * Signals between nodes (with `REDIS_URL`), for redis-rooms.ts: frames for peers on other
 * nodes are batched per target node for one turn of the event loop (signal-batch.ts) and go
 * out through RELAY_SCRIPT on a send-only connection with replies off (redis-publisher.ts):
 * published on the target node's own channel while that node is live (so only it reads them,
 * and Redis's cost is paid once per batch, not per message), kept in its queue when it is gone.
 * Order holds: a node sends all its batches on that one connection, batches keep their order,
 * and Redis delivers a channel's messages in order.
 *
 * Receiving: this node's channel, and for a while the channel and queue of a node its members
 * resumed from (listenAsMoved). A record is delivered to the local socket it names, in the
 * room's mirror (redis-rooms.ts), if its sender is still in that room.
 */
import type { RedisClientType } from '@redis/client';
import type { Logger } from './log.ts';
import { connectPublisher } from './redis-publisher.ts';
import { RELAY_SCRIPT } from './redis-scripts.ts';
import type { Member, Outbox } from './rooms.ts';
import { decodeBatch, SignalBatcher } from './signal-batch.ts';

/** How long a node also hears the channel of a node a member resumed from (listenAsMoved). */
const MOVED_LISTEN_MS = 10_000;
/** A batch of signals for one node stays below this (a PUBLISH Redis reads in one go). */
const MAX_BATCH_BYTES = 256 * 1024;
/** Signals kept for a node that is gone (RELAY_SCRIPT), at most this many bytes per node. */
const MAX_QUEUE_BYTES = 16 * 1024 * 1024;
/** While listening as moved (listenAsMoved): how often the old node's queue is read. */
const QUEUE_POLL_MS = 250;
/** How often the relay's script is loaded again (see connectPublisher). */
const SCRIPT_RELOAD_MS = 5000;

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
  /** The subscriber connection (redis-connection.ts). */
  sub: RedisClientType;
  /** A command connection whose string replies are Buffers. */
  buffers: Pick<RedisClientType, 'sendCommand'>;
  /** The mirror of a room this node holds, if any. */
  room(id: string): RelayRoom<M> | undefined;
  outbox: Outbox<M>;
  log: Logger;
}

export interface NodeRelay {
  /** Queues `frame` from peer `from` for peer `to` of room `room`, on node `toNode`; false if dropped. */
  send(toNode: string, room: string, to: string, from: string, frame: Buffer): boolean;
  /** Sends the batches waiting for this turn's end now (before a leave, so they arrive first). */
  flush(): void;
  /**
   * A member resumed here from node `from`: listen on its channel for a while and deliver what
   * its queue holds for members here. Resolves once subscribed and the queue read.
   */
  listenAsMoved(from: string): Promise<unknown>;
  /** This node drains: it is no longer live, so signals for its members are kept (RELAY_SCRIPT). */
  drain(): void;
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
  const queueKey = (id: string) => `${prefix}nq:${id}`;
  /** Queues keep signals for a gone node's members for as long as those may resume. */
  const queueTtl = String(o.resumeGraceMs + MOVED_LISTEN_MS);
  /** Other nodes' channels listened on after members resumed here from them (listenAsMoved). */
  const moved = new Map<string, { ready: Promise<unknown>; timer: NodeJS.Timeout; poll: NodeJS.Timeout }>();
  /**
   * How far this node has read each gone node's queue (listenAsMoved), kept as long as the
   * queue lives so that a later resume from the same node does not deliver a record again.
   */
  const queueRead = new Map<string, { offset: number; reading: Promise<void>; until: number }>();

  // Signals for members on this node (the client resubscribes after a reconnect), and the
  // live channel that says this node is there (RELAY_SCRIPT).
  sub.subscribe(nodeChan(node), onSignals, true).catch(() => {});
  sub.subscribe(liveChan(node), () => {}, true).catch(() => {});

  /**
   * A batch of signals for members on this node (signal-batch.ts). A signal for a peer not
   * (yet) here while one of our joins to its room is in flight is kept with the room's events,
   * so the newcomer gets it once its join is admitted.
   *
   * A signal whose sender is no longer in the room is dropped: its node sends signals and its
   * leave on two connections, so Redis may see the leave first, and the room's members here
   * have then been told `peer-left` already (a node flushes its signals before it leaves, so
   * that is rare). Joins cannot overtake the other way: a peer learns its id only after its
   * join script has published the `J` every node hears first.
   */
  function onSignals(batch: Buffer): void {
    decodeBatch(batch, (to, from, room, frame) => {
      const lr = o.room(room);
      if (lr === undefined) return;
      const target = lr.peers.get(to);
      if (isLocal(target)) {
        if (lr.peers.has(from)) outbox.send(target, frame);
      } else lr.log?.push(Buffer.concat([Buffer.from(`S|${to}|${from}|`, 'latin1'), frame]));
    });
  }

  const publisher = connectPublisher(o.redisUrl, log, [RELAY_SCRIPT]);
  // The publisher loads its script on every connect; this puts it back should someone empty
  // the script cache of a running Redis (SCRIPT FLUSH), where batches would fail unseen.
  const reload = setInterval(() => {
    o.buffers.sendCommand(['SCRIPT', 'LOAD', RELAY_SCRIPT]).catch(() => {});
  }, SCRIPT_RELOAD_MS);
  reload.unref();
  const queueArgs = [queueTtl, String(MAX_QUEUE_BYTES)] as const;
  const batcher = new SignalBatcher({
    windowMs: 0,
    maxBytes: MAX_BATCH_BYTES,
    publish(toNode, parts, bytes) {
      // Two parts per record (signal-batch.ts): counted here, once sent or dropped.
      const count = parts.length / 2;
      const keys = [nodeChan(toNode), liveChan(toNode), queueKey(toNode), `${prefix}nqb:${toNode}`];
      if (publisher.evalWith(RELAY_SCRIPT, keys, parts, bytes, queueArgs)) outbox.relayed(count);
      else {
        outbox.dropped(count);
        log.debug('relay dropped: redis unavailable');
      }
    },
  });

  /**
   * A member resumed here from another node (that node died or drains, or its old socket is
   * not yet noticed as gone). The other nodes route signals for it by their mirrors, which
   * still name the old node until they have read the room's `R` event: a signal sent in that
   * moment goes to the old node. If that node is still live it is published on its channel,
   * where nobody may listen any more by the time it arrives: so this node listens on that
   * channel too for MOVED_LISTEN_MS (long past any node's lag behind the event) and delivers
   * what is for its own members; the rest it drops, as on its own channel. If it is gone,
   * signals for it (also those sent while its members were reconnecting) are kept in its queue
   * (RELAY_SCRIPT): this node reads that now, before the member hears `joined`, and then every
   * QUEUE_POLL_MS while it listens, and delivers what is for its own members.
   */
  function listenAsMoved(from: string): Promise<unknown> {
    const listening = moved.get(from);
    if (listening !== undefined) {
      listening.timer.refresh();
      return listening.ready.then(() => readQueue(from));
    }
    const subscribed = sub.subscribe(nodeChan(from), onSignals, true);
    const ready = Promise.all([subscribed, readQueue(from)]);
    ready.catch(() => {});
    const poll = setInterval(() => void readQueue(from).catch(() => {}), QUEUE_POLL_MS);
    poll.unref();
    const timer = setTimeout(() => {
      moved.delete(from);
      clearInterval(poll);
      sub.unsubscribe(nodeChan(from)).catch(() => {});
    }, MOVED_LISTEN_MS);
    timer.unref();
    moved.set(from, { ready, timer, poll });
    return ready;
  }

  /** Delivers the batches kept in a gone node's queue since this node last read it (in order, one read at a time). */
  function readQueue(from: string): Promise<void> {
    const now = Date.now();
    for (const [id, r] of queueRead) if (r.until < now) queueRead.delete(id);
    let r = queueRead.get(from);
    if (r === undefined) {
      r = { offset: 0, reading: Promise.resolve(), until: 0 };
      queueRead.set(from, r);
    }
    r.until = now + Number(queueTtl);
    const state = r;
    state.reading = state.reading
      .catch(() => {})
      .then(async () => {
        const batches = (await o.buffers.sendCommand([
          'LRANGE',
          queueKey(from),
          String(state.offset),
          '-1',
        ])) as Buffer[];
        state.offset += batches.length;
        for (const batch of batches) onSignals(batch);
      });
    return state.reading;
  }

  return {
    send(toNode, room, to, from, frame) {
      return publisher.ready && batcher.queue(toNode, room, to, from, frame);
    },
    flush: () => batcher.flush(),
    listenAsMoved,
    drain() {
      sub.unsubscribe(liveChan(node)).catch(() => {});
    },
    async close() {
      clearInterval(reload);
      for (const { timer, poll } of moved.values()) {
        clearTimeout(timer);
        clearInterval(poll);
      }
      batcher.close();
      await publisher.close();
    },
  };
}
