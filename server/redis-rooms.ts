/**
 * Rooms in Redis (with `REDIS_URL`): any node behind a load balancer serves any client.
 *
 * The state (members, parked messages, resume token hashes, away peers) lives in one Redis
 * hash per room and only changes through the Lua scripts in redis-scripts.ts, atomically, so
 * capacity holds across nodes. Each script publishes its event on the room's channel; every
 * node with a member in the room is subscribed to it and keeps a mirror of the room (peer id
 * → its local socket, or the id of the node it is on), so a relay needs no Redis read: a
 * local target is sent to directly; frames for peers on other nodes are batched per target
 * node for one turn of the event loop (signal-batch.ts) and go out as one PUBLISH on that
 * node's own channel (so only the receiving node reads them, and Redis's cost is paid once
 * per batch, not per message), on a publish-only connection with replies off
 * (redis-publisher.ts). Order holds: a node sends all its batches on that one connection,
 * batches keep their order, and Redis delivers a channel's messages in order.
 *
 * A node that dies or drains leaves its members in Redis: their clients reconnect to another
 * node and resume (the scripts treat them as live, so the others see no leave). Nodes beat a
 * heartbeat; members of a node silent for NODE_DEAD_MS + the resume grace are removed (the
 * others then get `peer-left`). When Redis goes away, joins get `unavailable` (and a 1013
 * close, so clients retry), calls already set up go on (media never passes the server), and
 * when it is back each node re-asserts its members (a restarted Redis may be empty) and
 * brings its mirrors up to date.
 */

import { RESP_TYPES } from '@redis/client';
import type { IceServer, JoinMessage, SignalOutMessage } from '../src/protocol/signaling.ts';
import { joinedFrame, peerJoinedFrame, peerLeftFrame, relayFrame, signalFrame } from './frames.ts';
import { type Logger, roomTag } from './log.ts';
import type { RoomsConfig } from './memory-rooms.ts';
import { connectRedis } from './redis-connection.ts';
import { connectPublisher } from './redis-publisher.ts';
import {
  JOIN_SCRIPT,
  LEAVE_SCRIPT,
  PARK_SCRIPT,
  REAP_SCRIPT,
  RELAY_SCRIPT,
  SYNC_SCRIPT,
} from './redis-scripts.ts';
import { hashToken, type Member, type Outbox, type Rooms, randomId } from './rooms.ts';
import { decodeBatch, SignalBatcher } from './signal-batch.ts';

export interface RedisRoomsConfig extends RoomsConfig {
  redisUrl: string;
  redisPrefix: string;
  /** A join that Redis has not answered within this gets `unavailable`. */
  redisTimeoutMs: number;
}

/** How often a node says it is alive, and after how long without that it counts as dead. */
const HEARTBEAT_MS = 2000;
const NODE_DEAD_MS = 10_000;
/** Room keys live this long past the resume grace; nodes refresh the rooms they hold. */
const ROOM_TTL_EXTRA_MS = 120_000;
const REFRESH_EVERY = 15; // heartbeats (30 s)
const REAP_EVERY = 3; // heartbeats
/** After Redis came back: how long other nodes get to re-assert their members. */
const RESYNC_SETTLE_MS = 5000;
/** How long a node also hears the channel of a node a member resumed from (listenAsMoved). */
const MOVED_LISTEN_MS = 10_000;
/** A batch of signals for one node stays below this (a PUBLISH Redis reads in one go). */
const MAX_BATCH_BYTES = 256 * 1024;
/** Signals kept for a node that is gone (RELAY_SCRIPT), at most this many bytes per node. */
const MAX_QUEUE_BYTES = 16 * 1024 * 1024;
/** While listening as moved (listenAsMoved): how often the old node's queue is read. */
const QUEUE_POLL_MS = 250;

interface LocalRoom<M> {
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

type Reply = string[];

export function createRedisRooms<M extends Member>(
  config: RedisRoomsConfig,
  outbox: Outbox<M>,
  iceServers: () => IceServer[],
  log: Logger,
): Rooms<M> {
  const node = randomId();
  const prefix = config.redisPrefix;
  const nodesKey = `${prefix}nodes`;
  const nodeRoomsKey = `${prefix}node:${node}`;
  const nodeChan = (id: string) => `${prefix}nc:${id}`;
  /** Only this node subscribes to its live channel: Redis sees it gone the moment it dies. */
  const liveChan = (id: string) => `${prefix}nl:${id}`;
  const queueKey = (id: string) => `${prefix}nq:${id}`;
  /** Queues keep signals for a gone node's members for as long as those may resume. */
  const queueTtl = String(config.resumeGraceMs + MOVED_LISTEN_MS);
  const roomTtl = String(config.resumeGraceMs + ROOM_TTL_EXTRA_MS);
  const rooms = new Map<string, LocalRoom<M>>();
  const joining = new Set<M>();
  /** Other nodes' channels listened on after members resumed here from them (listenAsMoved). */
  const moved = new Map<string, { ready: Promise<unknown>; timer: NodeJS.Timeout; poll: NodeJS.Timeout }>();
  /**
   * How far this node has read each gone node's queue (listenAsMoved), kept as long as the
   * queue lives so that a later resume from the same node does not deliver a record again.
   */
  const queueRead = new Map<string, { offset: number; reading: Promise<void>; until: number }>();
  let draining = false;
  let closed = false;

  const { cmd, sub, run, timed, ...connection } = connectRedis(
    {
      url: config.redisUrl,
      name: 'rooms',
      timeoutMs: config.redisTimeoutMs,
      onReady(again) {
        log.info({ node }, again ? 'redis is back' : 'connected to redis');
        void beat();
        if (again) void resyncAll();
      },
    },
    log,
  );
  // Signals for members on this node (the client resubscribes after a reconnect), and the
  // live channel that says this node is there (RELAY_SCRIPT).
  sub.subscribe(nodeChan(node), onSignals, true).catch(() => {});
  sub.subscribe(liveChan(node), () => {}, true).catch(() => {});

  /** Commands whose string replies come as bytes (the queued batches). */
  const buffers = cmd.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });

  // ---- the local mirror of rooms ----
  function roomFor(id: string): LocalRoom<M> {
    let lr = rooms.get(id);
    if (lr === undefined) {
      const chan = `${prefix}rc:${id}`;
      const created: LocalRoom<M> = {
        id,
        key: `${prefix}room:${id}`,
        chan,
        ver: 0,
        peers: new Map(),
        local: 0,
        inflight: 0,
        log: null,
        sub: Promise.resolve(),
        teamKey: null,
      };
      created.sub = sub.subscribe(chan, onEvent, true);
      created.sub.catch(() => {});
      rooms.set(id, created);
      lr = created;
    }
    return lr;
  }

  function maybeDrop(lr: LocalRoom<M>): void {
    if (lr.local > 0 || lr.inflight > 0 || rooms.get(lr.id) !== lr) return;
    rooms.delete(lr.id);
    sub.unsubscribe(lr.chan).catch(() => {});
    if (!draining) cmd.sendCommand(['SREM', nodeRoomsKey, lr.id]).catch(() => {});
  }

  function isLocal(value: M | string | undefined): value is M {
    return typeof value === 'object';
  }

  function onEvent(message: Buffer, channel: Buffer): void {
    const id = channel.toString('latin1', prefix.length + 3);
    const lr = rooms.get(id);
    if (lr === undefined) return;
    lr.log?.push(message);
    apply(lr, message, null);
  }

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
      const lr = rooms.get(room);
      if (lr === undefined) return;
      const target = lr.peers.get(to);
      if (isLocal(target)) {
        if (lr.peers.has(from)) outbox.send(target, frame);
      } else lr.log?.push(Buffer.concat([Buffer.from(`S|${to}|${from}|`, 'latin1'), frame]));
    });
  }

  /**
   * Signals for peers on other nodes: one batch per target node, at the end of this turn,
   * published on its channel, or kept in its queue if it is gone (RELAY_SCRIPT).
   */
  const publisher = connectPublisher(config.redisUrl, log);
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
   * Applies one room event. With `only` (a member that just joined) it is a replay of an
   * event that arrived while its join was in flight: only that member hears of it.
   */
  function apply(lr: LocalRoom<M>, message: Buffer, only: M | null): void {
    if (message[0] === 0x53 /* S|to|from|frame: a signal kept while a join was in flight (onSignals) */) {
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
        maybeDrop(lr);
      }
    }
  }

  // ---- join ----
  async function join(m: M, msg: JoinMessage): Promise<void> {
    if (!cmd.isReady) {
      outbox.refuse(m, 'unavailable');
      return;
    }
    const lr = roomFor(msg.room);
    lr.teamKey = msg.key ?? null;
    lr.inflight++;
    lr.log ??= [];
    joining.add(m);
    let reply: Reply | null = null;
    const token = randomId();
    const tokenHash = hashToken(token);
    const resume = msg.resume;
    try {
      await timed(lr.sub);
      for (let attempt = 0; attempt < 3; attempt++) {
        const pending = run(
          JOIN_SCRIPT,
          [lr.key, nodeRoomsKey],
          [
            lr.id,
            node,
            String(config.roomCapacity),
            String(Date.now()),
            randomId(),
            tokenHash,
            resume?.peerId ?? '',
            resume ? hashToken(resume.token) : '',
            roomTtl,
            lr.chan,
            msg.key ?? '',
          ],
        ) as Promise<Reply>;
        try {
          reply = await timed(pending);
        } catch (err) {
          // Too slow: if it still goes through later, take the member out again.
          pending.then((late) => forget(lr, late, tokenHash)).catch(() => {});
          throw err;
        }
        if (reply[0] !== 'taken') break;
      }
    } catch (err) {
      log.warn({ err: (err as Error).message, room: roomTag(lr.id) }, 'join failed: redis unavailable');
      reply = null;
    }
    const movedFrom = reply === null ? '' : seamlessFrom(reply);
    if (movedFrom !== '' && movedFrom !== node) {
      // Before the member hears `joined`: signals meanwhile are kept with the room's events.
      await timed(listenAsMoved(movedFrom)).catch(() => {});
    }
    joining.delete(m);
    const events = lr.log ?? [];
    lr.inflight--;
    if (lr.inflight === 0) lr.log = null;
    if (reply === null) {
      outbox.refuse(m, 'unavailable');
    } else if (m.closing) {
      forget(lr, reply, tokenHash);
    } else {
      admit(m, lr, reply, token, tokenHash, events);
    }
    maybeDrop(lr);
  }

  /** The node a `seamless` resume took the member from (after the script's '' marker), or ''. */
  function seamlessFrom(reply: Reply): string {
    if (reply[0] !== 'seamless') return '';
    const marker = reply.indexOf('', 3);
    return marker < 0 ? '' : (reply[marker + 1] ?? '');
  }

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
        const batches = (await buffers.sendCommand([
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

  /** A join that went through for a socket that is gone: leave again (resumable). */
  function forget(lr: LocalRoom<M>, reply: Reply, tokenHash: string): void {
    const status = reply[0];
    if (status !== 'joined' && status !== 'resumed' && status !== 'seamless') return;
    leave(lr, reply[1] ?? '', true, tokenHash);
  }

  function admit(
    m: M,
    lr: LocalRoom<M>,
    reply: Reply,
    token: string,
    tokenHash: string,
    events: Buffer[],
  ): void {
    const status = reply[0];
    if (status === 'full' || status === 'taken') {
      log.info({ room: roomTag(lr.id) }, 'room full');
      outbox.reject(m, 'room-full', `This call is full (${config.roomCapacity} people).`);
      return;
    }
    const peerId = reply[1] ?? '';
    const ver = Number(reply[2]);
    const old = lr.peers.get(peerId);
    if (isLocal(old)) {
      // Seamless resume on the node that holds the old socket.
      old.room = null;
      lr.local--;
      outbox.replaced(old);
    }
    // The room as of the script, plus the local members that joined after it.
    const peers = new Map<string, M | string>();
    const order: string[] = [];
    let i = 3;
    for (; i + 1 < reply.length && reply[i] !== ''; i += 2) {
      const pid = reply[i] as string;
      const cur = lr.peers.get(pid);
      peers.set(pid, isLocal(cur) ? cur : (reply[i + 1] as string));
      order.push(pid);
    }
    for (const [pid, cur] of lr.peers)
      if (isLocal(cur) && !peers.has(pid) && cur !== old) peers.set(pid, cur);
    peers.set(peerId, m);
    const before = lr.ver;
    lr.ver = ver;
    lr.peers = peers;
    lr.local++;
    m.room = lr;
    m.peerId = peerId;
    m.tokenHash = tokenHash;
    m.parked = null;
    outbox.send(
      m,
      joinedFrame({
        room: lr.id,
        peerId,
        resumeToken: token,
        peers: order,
        iceServers: iceServers(),
        capacity: config.roomCapacity,
      }),
    );
    if (status === 'joined') {
      for (i++; i + 1 < reply.length; i += 2) {
        outbox.send(m, signalFrame(reply[i] as string, reply[i + 1] as string));
        outbox.relayed();
      }
    } else {
      outbox.resumed();
    }
    // Events that came while the script ran and are newer than it: the mirror and the
    // newcomer catch up (the other local members already heard of them).
    for (const event of events) apply(lr, event, m);
    lr.ver = Math.max(lr.ver, before);
    log.debug({ room: roomTag(lr.id), status }, 'peer joined');
  }

  // ---- leave, park, relay ----
  function leave(lr: LocalRoom<M>, peerId: string, resumable: boolean, tokenHash: string): void {
    const keep = resumable && config.resumeGraceMs > 0;
    run(
      LEAVE_SCRIPT,
      [lr.key],
      [
        peerId,
        node,
        keep ? '1' : '0',
        tokenHash,
        String(Date.now() + config.resumeGraceMs),
        roomTtl,
        lr.chan,
      ],
    ).catch((err: Error) => log.warn({ err: err.message }, 'leave not recorded: redis unavailable'));
  }

  function depart(m: M, resumable: boolean): void {
    const lr = m.room as LocalRoom<M> | null;
    if (lr === null) return;
    m.room = null;
    m.parked = null;
    lr.local--;
    // Still listed (as elsewhere) until the room's own `L` event, which tells the others here.
    lr.peers.set(m.peerId, node);
    // Its signals still waiting for this turn's end go to Redis before its leave does.
    batcher.flush();
    // Draining: the member stays in Redis so that its client resumes on another node.
    if (!draining) leave(lr, m.peerId, resumable, m.tokenHash);
    log.debug({ room: roomTag(lr.id) }, 'peer left');
    maybeDrop(lr);
  }

  function park(m: M, dataJson: string | null): void {
    const lr = m.room as LocalRoom<M>;
    run(PARK_SCRIPT, [lr.key], [m.peerId, node, dataJson ?? '']).catch((err: Error) =>
      log.warn({ err: err.message }, 'park not recorded: redis unavailable'),
    );
  }

  function relay(m: M, msg: SignalOutMessage, frame: Buffer, text: string): boolean {
    const lr = m.room as LocalRoom<M>;
    const target = lr.peers.get(msg.to);
    if (target === undefined || target === m) return false;
    const out = relayFrame(m.peerId, frame, text, msg.to, msg.data);
    if (isLocal(target)) {
      outbox.send(target, out);
      outbox.relayed();
    } else {
      // A queued signal is counted (relayed or dropped) when its batch goes out.
      const bytes = typeof out === 'string' ? Buffer.from(out) : out;
      const queued = publisher.ready && batcher.queue(target, lr.id, msg.to, m.peerId, bytes);
      if (!queued) outbox.dropped(1);
    }
    return true;
  }

  // ---- heartbeat, reaping, refresh, resync ----
  let beats = 0;
  async function beat(): Promise<void> {
    if (closed || !cmd.isReady) return;
    beats++;
    try {
      const now = Date.now();
      await cmd.sendCommand(['ZADD', nodesKey, String(now), node]);
      if (beats % REAP_EVERY === 0) {
        const deadBefore = now - NODE_DEAD_MS - config.resumeGraceMs;
        const reaped = Number(await run(REAP_SCRIPT, [nodesKey], [String(deadBefore), prefix]));
        if (reaped > 0) log.info({ reaped }, 'removed the members of a dead node');
      }
      if (beats % REFRESH_EVERY === 0) {
        for (const lr of rooms.values()) {
          if (lr.local > 0) await cmd.sendCommand(['PEXPIRE', lr.key, roomTtl]);
        }
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'heartbeat failed');
    }
  }
  const heartbeat = setInterval(() => void beat(), HEARTBEAT_MS);
  heartbeat.unref();

  /** After an outage: Redis holds exactly our members again, and our mirrors match Redis. */
  async function resyncAll(): Promise<void> {
    try {
      const listed = (await cmd.sendCommand(['SMEMBERS', nodeRoomsKey])) as string[];
      const ids = new Set([...rooms.keys(), ...listed]);
      for (const id of ids) {
        const lr = rooms.get(id);
        const mine: string[] = [];
        if (lr !== undefined) {
          for (const [pid, m] of lr.peers) if (isLocal(m) && m.room === lr) mine.push(pid, m.tokenHash);
        }
        await run(
          SYNC_SCRIPT,
          [`${prefix}room:${id}`, nodeRoomsKey],
          [id, node, roomTtl, `${prefix}rc:${id}`, lr?.teamKey ?? '', ...mine],
        );
        if (lr !== undefined) await refreshMirror(lr);
      }
      log.info({ rooms: ids.size }, 'room state re-asserted after the redis outage');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'resync after the redis outage failed');
    }
  }

  /**
   * Reads the room and tells local members of joins and leaves they missed. A remote member
   * missing from Redis is dropped only on the second look (`settled`), RESYNC_SETTLE_MS later:
   * after a restart its own node may not have re-asserted it yet (it does so with an `A` event).
   */
  async function refreshMirror(lr: LocalRoom<M>, settled = false): Promise<void> {
    // node-redis answers HGETALL with an object (field → value), even over RESP2.
    const all = (await cmd.sendCommand(['HGETALL', lr.key])) as Record<string, string> | string[];
    const entries = Array.isArray(all)
      ? all.flatMap((f, i) => (i % 2 === 0 ? [[f, all[i + 1] ?? ''] as const] : []))
      : Object.entries(all);
    const now = new Map<string, string>();
    for (const [f, v] of entries) if (f.startsWith('m:')) now.set(f.slice(2), v.split('|')[0] ?? '');
    if (!settled) {
      setTimeout(() => {
        if (!closed && rooms.get(lr.id) === lr) refreshMirror(lr, true).catch(() => {});
      }, RESYNC_SETTLE_MS).unref();
    }
    for (const [pid, cur] of lr.peers) {
      if (now.has(pid) || isLocal(cur) || !settled) continue;
      lr.peers.delete(pid);
      for (const m of lr.peers.values()) if (isLocal(m)) outbox.send(m, peerLeftFrame(pid));
    }
    for (const [pid, at] of now) {
      const cur = lr.peers.get(pid);
      if (cur !== undefined) {
        if (!isLocal(cur)) lr.peers.set(pid, at);
        continue;
      }
      lr.peers.set(pid, at);
      for (const m of lr.peers.values())
        if (isLocal(m) && m.peerId !== pid) outbox.send(m, peerJoinedFrame(pid));
    }
  }

  /** Reads the room's key and live members (one HGETALL: rooms hold a handful of fields). */
  async function team(id: string): Promise<{ key: string; people: number } | null> {
    if (!cmd.isReady) throw new Error('redis unavailable');
    const all = (await timed(cmd.sendCommand(['HGETALL', `${prefix}room:${id}`]))) as
      | Record<string, string>
      | string[];
    const entries = Array.isArray(all)
      ? all.flatMap((f, i) => (i % 2 === 0 ? [[f, all[i + 1] ?? ''] as const] : []))
      : Object.entries(all);
    let key = '';
    let people = 0;
    for (const [f, v] of entries) {
      if (f === 'k') key = v;
      else if (f.startsWith('m:')) people++;
    }
    return key === '' || people === 0 ? null : { key, people };
  }

  return {
    join(m, msg) {
      void join(m, msg);
    },
    team,
    joining: (m) => joining.has(m),
    depart,
    park,
    relay,
    count: () => rooms.size,
    drain() {
      draining = true;
      clearInterval(heartbeat);
      // No longer live: signals for its members are kept for the nodes they resume on.
      sub.unsubscribe(liveChan(node)).catch(() => {});
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      for (const { timer, poll } of moved.values()) {
        clearTimeout(timer);
        clearInterval(poll);
      }
      batcher.close();
      await Promise.all([publisher.close(), connection.close()]);
    },
  };
}
