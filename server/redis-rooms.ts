/**
 * Rooms in Redis (with `REDIS_URL`): any node behind a load balancer serves any client.
 *
 * The state (members, parked messages, resume token hashes, away peers) lives in one Redis
 * hash per room and only changes through the Lua scripts in redis-scripts.ts, atomically, so
 * capacity holds across nodes. Each script publishes its event on the room's channel; every
 * node with a member in the room is subscribed to it and keeps a mirror of the room (peer id
 * → its local socket, or the id of the node it is on), so a relay needs no Redis read: a
 * local target is sent to directly; frames for peers on other nodes go through the relay
 * between nodes (redis-relay.ts: batched, one Redis call per target node and turn).
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
import { applyEvent, type LocalRoom, type MirrorContext } from './redis-mirror.ts';
import { createNodeRelay, isLocal } from './redis-relay.ts';
import { JOIN_SCRIPT, LEAVE_SCRIPT, PARK_SCRIPT, REAP_SCRIPT, SYNC_SCRIPT } from './redis-scripts.ts';
import { hashToken, type Member, type Outbox, type Rooms, randomId } from './rooms.ts';

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
  const roomTtl = String(config.resumeGraceMs + ROOM_TTL_EXTRA_MS);
  const rooms = new Map<string, LocalRoom<M>>();
  const joining = new Set<M>();
  let draining = false;
  let closed = false;

  const { cmd, sub, run, timed, keep, ...connection } = connectRedis(
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
  /** Signals between nodes; their batches are delivered by this node's mirrors. */
  const relayer = createNodeRelay<M>({
    redisUrl: config.redisUrl,
    prefix,
    node,
    resumeGraceMs: config.resumeGraceMs,
    heartbeats: { key: nodesKey, silentMs: NODE_DEAD_MS },
    sub,
    keep,
    // The queued batches come back as bytes.
    buffers: cmd.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }),
    room: (id) => rooms.get(id),
    *locals() {
      for (const lr of rooms.values()) {
        for (const [pid, m] of lr.peers) if (isLocal(m) && m.room === lr) yield [lr.id, pid] as const;
      }
    },
    outbox,
    log,
  });

  // ---- the local mirror of rooms ----
  const mirror: MirrorContext<M> = { node, outbox, dropIfEmpty: (lr) => maybeDrop(lr) };

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

  function onEvent(message: Buffer, channel: Buffer): void {
    const id = channel.toString('latin1', prefix.length + 3);
    const lr = rooms.get(id);
    if (lr === undefined) return;
    lr.log?.push(message);
    applyEvent(lr, message, null, mirror);
  }

  // ---- join ----
  async function join(m: M, msg: JoinMessage): Promise<void> {
    // Draining: the client is about to be told to go anyway; it joins on another node.
    if (!cmd.isReady || draining) {
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
      await timed(relayer.listenAsMoved(movedFrom, lr.id, reply?.[1] ?? '')).catch(() => {});
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
    for (const event of events) applyEvent(lr, event, m, mirror);
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
    relayer.flush();
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
      if (!relayer.send(target, lr.id, msg.to, m.peerId, bytes)) outbox.dropped(1);
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
      // Late beats make other nodes take this one for gone: what they kept for its members.
      await relayer.takeKept();
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

  // The room events published while the subscriber was away are lost to it, also when the
  // command connection stayed up (no resync then): once it has subscribed again, every
  // mirror is compared with Redis (joins at once, leaves on the settled second look).
  let subLost = false;
  sub.on('reconnecting', () => {
    subLost = true;
  });
  sub.on('ready', () => {
    if (!subLost || closed) return;
    subLost = false;
    for (const lr of rooms.values()) refreshMirror(lr).catch(() => {});
  });

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
    ready: () => !draining && connection.ready() && relayer.ready(),
    async drain() {
      draining = true;
      clearInterval(heartbeat);
      // No longer live once Redis has confirmed it: from then on signals for its members are
      // kept for the nodes they resume on, so the members may be told to go.
      await timed(relayer.drain()).catch((err: Error) =>
        log.warn({ err: err.message }, 'draining: redis did not confirm this node left its live channel'),
      );
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      await Promise.all([relayer.close(), connection.close()]);
    },
  };
}
