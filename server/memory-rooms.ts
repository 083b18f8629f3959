/**
 * Rooms in this process's memory: the default, when one server is enough (no REDIS_URL).
 *
 * A room is one small object with its live members (the sockets' own Connection objects) in
 * join order and the peers that are away (socket gone, id reclaimable with its token until a
 * timer fires). Rooms are small, so arrays beat Maps.
 */
import type { IceServer, JoinMessage, SignalOutMessage } from '../src/protocol/signaling.ts';
import { joinedFrame, peerJoinedFrame, peerLeftFrame, relayFrame, signalFrame } from './frames.ts';
import { type Logger, roomTag } from './log.ts';
import { hashToken, type Member, type Outbox, type Rooms, randomId, sameHash } from './rooms.ts';

export interface RoomsConfig {
  roomCapacity: number;
  resumeGraceMs: number;
}

/** A peer whose socket went away; its id can be reclaimed with its token until the timer fires. */
interface Away {
  readonly peerId: string;
  readonly tokenHash: string;
  readonly timer: NodeJS.Timeout;
}

interface Room<M> {
  readonly id: string;
  /**
   * Live members in join order (oldest first). Replaced, never grown in place, by `concat`
   * and `without`: those allocate the exact length, where push, spread (`[...a, x]`) and
   * filter leave 17-19 slots (~140 bytes more per room, seen in heap snapshots).
   */
  members: readonly M[];
  away: readonly Away[] | null;
  /** A team room's key (from its first member's join, checked against the id); else null. */
  key: string | null;
}

/** A copy of `list` without `item`, allocated at its exact length (see Room.members). */
export function without<T>(list: readonly T[], item: T): readonly T[] {
  const i = list.indexOf(item);
  return i === -1 ? list : list.slice(0, i).concat(list.slice(i + 1));
}

export function createMemoryRooms<M extends Member>(
  config: RoomsConfig,
  outbox: Outbox<M>,
  iceServers: () => IceServer[],
  log: Logger,
): Rooms<M> {
  const rooms = new Map<string, Room<M>>();
  let draining = false;

  const roomOf = (m: M) => m.room as Room<M> | null;

  function broadcast(room: Room<M>, except: M, frame: string): void {
    for (const other of room.members) if (other !== except) outbox.send(other, frame);
  }

  function findMember(room: Room<M>, peerId: string): M | undefined {
    for (const m of room.members) if (m.peerId === peerId) return m;
    return undefined;
  }

  function sendJoined(m: M, room: Room<M>, token: string): void {
    const peers: string[] = [];
    for (const other of room.members) if (other !== m) peers.push(other.peerId);
    outbox.send(
      m,
      joinedFrame({
        room: room.id,
        peerId: m.peerId,
        resumeToken: token,
        peers,
        iceServers: iceServers(),
        capacity: config.roomCapacity,
      }),
    );
  }

  function dropIfEmpty(room: Room<M>): void {
    if (room.members.length === 0 && room.away === null) rooms.delete(room.id);
  }

  function takeAway(room: Room<M>, away: Away): void {
    clearTimeout(away.timer);
    const rest = without(room.away ?? [], away);
    room.away = rest.length === 0 ? null : rest;
  }

  function admit(m: M, room: Room<M>, peerId: string): string {
    const token = randomId();
    m.room = room;
    m.peerId = peerId;
    m.tokenHash = hashToken(token);
    return token;
  }

  function tryResume(m: M, room: Room<M>, msg: JoinMessage): boolean {
    const resume = msg.resume;
    if (resume === undefined) return false;
    const presented = hashToken(resume.token);
    const old = findMember(room, resume.peerId);
    if (old !== undefined) {
      if (!sameHash(old.tokenHash, presented)) return false;
      // Seamless: the old socket is replaced in place, the others notice nothing.
      const token = admit(m, room, old.peerId);
      room.members = room.members.map((x) => (x === old ? m : x));
      old.room = null;
      outbox.replaced(old);
      outbox.resumed();
      sendJoined(m, room, token);
      log.info({ room: roomTag(room.id), seamless: true }, 'peer resumed');
      return true;
    }
    const away = room.away?.find((a) => a.peerId === resume.peerId);
    if (away === undefined || !sameHash(away.tokenHash, presented)) return false;
    if (room.members.length >= config.roomCapacity) {
      outbox.reject(m, 'room-full');
      return true;
    }
    takeAway(room, away);
    const token = admit(m, room, away.peerId);
    room.members = room.members.concat(m);
    outbox.resumed();
    sendJoined(m, room, token);
    broadcast(room, m, peerJoinedFrame(m.peerId));
    log.info({ room: roomTag(room.id), seamless: false }, 'peer resumed');
    return true;
  }

  function idTaken(room: Room<M>, peerId: string): boolean {
    return findMember(room, peerId) !== undefined || (room.away?.some((a) => a.peerId === peerId) ?? false);
  }

  function join(m: M, msg: JoinMessage): void {
    let room = rooms.get(msg.room);
    if (room === undefined) {
      room = { id: msg.room, members: [], away: null, key: msg.key ?? null };
      rooms.set(msg.room, room);
    }
    if (tryResume(m, room, msg)) {
      dropIfEmpty(room);
      return;
    }
    if (room.members.length >= config.roomCapacity) {
      log.info({ room: roomTag(room.id) }, 'room full');
      outbox.reject(m, 'room-full', `This call is full (${config.roomCapacity} people).`);
      return;
    }
    let peerId = randomId();
    while (idTaken(room, peerId)) peerId = randomId();
    const token = admit(m, room, peerId);
    room.members = room.members.concat(m);
    sendJoined(m, room, token);
    for (const other of room.members) {
      if (other === m) continue;
      const parked = other.parked;
      if (parked === null) {
        outbox.send(other, peerJoinedFrame(peerId));
        continue;
      }
      // The newcomer gets what was parked for it (the prepared offer) right after `joined`;
      // the parker learns it went, and to whom.
      other.parked = null;
      outbox.send(m, signalFrame(other.peerId, parked));
      outbox.send(other, peerJoinedFrame(peerId, true));
      outbox.relayed();
    }
    log.debug({ room: roomTag(room.id), live: room.members.length }, 'peer joined');
  }

  function depart(m: M, resumable: boolean): void {
    const room = roomOf(m);
    if (room === null) return;
    m.room = null;
    m.parked = null;
    room.members = without(room.members, m);
    broadcast(room, m, peerLeftFrame(m.peerId));
    if (resumable && config.resumeGraceMs > 0 && !draining) {
      const away: Away = {
        peerId: m.peerId,
        tokenHash: m.tokenHash,
        timer: setTimeout(() => {
          takeAway(room, away);
          dropIfEmpty(room);
        }, config.resumeGraceMs),
      };
      away.timer.unref();
      room.away = (room.away ?? []).concat(away);
    } else {
      dropIfEmpty(room);
    }
    log.debug({ room: roomTag(room.id), live: room.members.length }, 'peer left');
  }

  function relay(m: M, msg: SignalOutMessage, frame: Buffer, text: string): boolean {
    const room = roomOf(m);
    if (room === null) return false;
    const target = findMember(room, msg.to);
    if (target === undefined || target === m) return false;
    // Canonical frames: the data bytes are copied from the received frame, no re-encoding.
    outbox.send(target, relayFrame(m.peerId, frame, text, msg.to, msg.data));
    outbox.relayed();
    return true;
  }

  return {
    join,
    joining: () => false,
    depart,
    park(m, dataJson) {
      m.parked = dataJson;
    },
    relay,
    async team(id) {
      const room = rooms.get(id);
      if (room === undefined || room.key === null || room.members.length === 0) return null;
      return { key: room.key, people: room.members.length };
    },
    count: () => rooms.size,
    ready: () => true,
    async drain() {
      draining = true;
    },
    async close() {
      for (const room of rooms.values()) for (const away of room.away ?? []) clearTimeout(away.timer);
      rooms.clear();
    },
  };
}
