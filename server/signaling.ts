/**
 * The WebSocket side of the server: rooms, relay, limits, heartbeat, resume.
 *
 * Per-connection state is one small `Connection` object hung on the socket, and the event
 * handlers are shared functions (no closures per socket), so an idle socket costs little
 * more than `ws` itself. The relay path is: token bucket → JSON.parse → hand-written
 * `signal` check → member lookup → the received data bytes copied behind a new head
 * (relayedSignalFrame) → send → backpressure check.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  CLOSE_CODES,
  type ErrorCode,
  type JoinMessage,
  type ParkMessage,
  PROTOCOL_VERSION,
  type SignalOutMessage,
} from '../src/protocol/signaling.ts';
import { decodeParsed, isSignalMessage, parseJson, relayedSignalFrame } from './client-message.ts';
import type { ServerConfig } from './config.ts';
import { type Logger, roomTag } from './log.ts';
import type { Metrics, RejectionReason } from './metrics.ts';
import { originPolicy } from './origin-policy.ts';
import { take } from './token-bucket.ts';
import { iceServersFor } from './turn-credentials.ts';

/** A peer whose socket went away; its id can be reclaimed with its token until the timer fires. */
interface Away {
  readonly peerId: string;
  readonly tokenHash: string;
  readonly timer: NodeJS.Timeout;
}

interface Room {
  readonly id: string;
  /**
   * Live members in join order (oldest first). Rooms are small, so an array beats a Map,
   * and it is replaced, never grown in place, by `concat` and `without`: those allocate the
   * exact length, where push, spread (`[...a, x]`) and filter leave 17-19 slots (~140 bytes
   * more per room, seen in heap snapshots).
   */
  members: readonly Connection[];
  away: readonly Away[] | null;
}

/** A copy of `list` without `item`, allocated at its exact length (see Room.members). */
function without<T>(list: readonly T[], item: T): readonly T[] {
  const i = list.indexOf(item);
  return i === -1 ? list : list.slice(0, i).concat(list.slice(i + 1));
}

/** One per client address, shared by its connections (one string, one counter). */
interface IpEntry {
  readonly ip: string;
  count: number;
}

/**
 * Everything the server keeps for one socket, including its room membership: no separate
 * member object, so an idle joined socket costs one small object beyond `ws` itself.
 */
class Connection {
  room: Room | null = null;
  peerId = '';
  /** First 128 bits of sha256(resume token), base64url; the token itself is never stored. */
  tokenHash = '';
  tokens: number;
  refilledAt: number;
  alive = true;
  strikes = 0;
  strikeWindowAt = 0;
  rateErrorAt = 0;
  closing = false;
  /** The JSON text of this peer's parked message for the next joiner (`park`), if any. */
  parked: string | null = null;
  constructor(
    readonly ws: WebSocket,
    readonly ipEntry: IpEntry,
    burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }
}

type TaggedSocket = WebSocket & { parley: Connection };

const STRIKE_WINDOW_MS = 10_000;
/** Listed in `joined.features`: what clients may use beyond the base protocol. */
const FEATURES = ['park'];
const TEXT_FRAME = { binary: false } as const;
const SLOW_CONSUMER_TERMINATE_MS = 2000;

function hashToken(token: string): string {
  // toString on a sub-range makes a fresh 22-char string; `.slice` of the 43-char digest
  // would keep the whole digest string alive behind a sliced string.
  return createHash('sha256').update(token).digest().toString('base64url', 0, 16);
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function errorFrame(code: ErrorCode, message: string): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, type: 'error', code, message });
}

const ERROR_TEXT: Partial<Record<ErrorCode, string>> = {
  'binary-not-supported': 'Binary frames are not supported; send JSON text.',
  'not-joined': 'Join a room first.',
  'already-joined': 'This connection is already in a room; open another connection for another room.',
  'room-full': 'This call is full.',
  'unknown-peer': 'No such peer in your room (it may have left).',
  'rate-limited': 'Too many messages; slow down.',
  'server-shutdown': 'The server is restarting; reconnect in a moment.',
  internal: 'Something went wrong on the server; please try again.',
};

/** Shared (not a closure per socket): a socket error during or after the upgrade just ends it. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export interface SignalingServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Tell every client, close them, and resolve once all are gone (or cut after the grace). */
  shutdown(): Promise<void>;
  socketCount(): number;
  roomCount(): number;
}

export function createSignalingServer(config: ServerConfig, log: Logger, metrics: Metrics): SignalingServer {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: config.maxPayload,
  });
  const origins = originPolicy(config.allowedOrigins, config.allowNoOrigin);
  const rooms = new Map<string, Room>();
  const conns = new Set<Connection>();
  const perIp = new Map<string, IpEntry>();
  const limits = { burst: config.rateLimitBurst, perSec: config.rateLimitPerSec };
  let shuttingDown = false;

  const heartbeat = setInterval(() => {
    for (const conn of conns) {
      if (!conn.alive) {
        metrics.reject('heartbeat-timeout');
        log.debug('heartbeat timeout: terminating socket');
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, config.heartbeatMs);
  heartbeat.unref();

  function send(conn: Connection, frame: string): void {
    const ws = conn.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    // Always the same options object, strings and bytes alike: ws.send spreads it into a new
    // one, and mixing calls with and without options sent every relayed message through V8's
    // slow path for object literals (seen in `perf`: DefineKeyedOwnPropertyInLiteral, map
    // migrations; about 0.5 µs per message).
    ws.send(frame, TEXT_FRAME);
    if (ws.bufferedAmount > config.maxBufferedBytes) slowConsumer(conn);
  }

  /** A UTF-8 text frame already encoded as bytes. */
  function sendText(conn: Connection, bytes: Buffer): void {
    const ws = conn.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(bytes, TEXT_FRAME);
    if (ws.bufferedAmount > config.maxBufferedBytes) slowConsumer(conn);
  }

  function sendError(conn: Connection, code: ErrorCode, message?: string): void {
    send(conn, errorFrame(code, message ?? ERROR_TEXT[code] ?? 'Invalid message.'));
  }

  function reject(conn: Connection, code: ErrorCode & RejectionReason, message?: string): void {
    metrics.reject(code);
    sendError(conn, code, message);
  }

  function slowConsumer(conn: Connection): void {
    if (conn.closing) return;
    conn.closing = true;
    metrics.reject('slow-consumer');
    log.warn({ buffered: conn.ws.bufferedAmount }, 'slow consumer: closing socket');
    depart(conn, true);
    conn.ws.close(CLOSE_CODES.slowConsumer, 'slow consumer');
    setTimeout(() => conn.ws.terminate(), SLOW_CONSUMER_TERMINATE_MS).unref();
  }

  function broadcast(room: Room, except: Connection, frame: string): void {
    for (const other of room.members) if (other !== except) send(other, frame);
  }

  function findMember(room: Room, peerId: string): Connection | undefined {
    for (const m of room.members) if (m.peerId === peerId) return m;
    return undefined;
  }

  function joinedFrame(conn: Connection, room: Room, token: string): string {
    const peers: string[] = [];
    for (const other of room.members) if (other !== conn) peers.push(other.peerId);
    return JSON.stringify({
      v: PROTOCOL_VERSION,
      type: 'joined',
      room: room.id,
      peerId: conn.peerId,
      resumeToken: token,
      peers,
      iceServers: iceServersFor(config, Date.now()),
      capacity: config.roomCapacity,
      features: FEATURES,
    });
  }

  function peerFrame(type: 'peer-joined' | 'peer-left', peerId: string): string {
    return `{"v":${PROTOCOL_VERSION},"type":"${type}","peerId":"${peerId}"}`;
  }

  function dropIfEmpty(room: Room): void {
    if (room.members.length === 0 && room.away === null) rooms.delete(room.id);
  }

  function takeAway(room: Room, away: Away): void {
    clearTimeout(away.timer);
    const rest = without(room.away ?? [], away);
    room.away = rest.length === 0 ? null : rest;
  }

  /** The connection leaves its room; `resumable` keeps its id reclaimable for a while. */
  function depart(conn: Connection, resumable: boolean): void {
    const room = conn.room;
    if (room === null) return;
    conn.room = null;
    conn.parked = null;
    room.members = without(room.members, conn);
    broadcast(room, conn, peerFrame('peer-left', conn.peerId));
    if (resumable && config.resumeGraceMs > 0 && !shuttingDown) {
      const away: Away = {
        peerId: conn.peerId,
        tokenHash: conn.tokenHash,
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

  function admit(conn: Connection, room: Room, peerId: string): string {
    const token = randomBytes(16).toString('base64url');
    conn.room = room;
    conn.peerId = peerId;
    conn.tokenHash = hashToken(token);
    return token;
  }

  function tryResume(conn: Connection, room: Room, msg: JoinMessage): boolean {
    const resume = msg.resume;
    if (resume === undefined) return false;
    const presented = hashToken(resume.token);
    const old = findMember(room, resume.peerId);
    if (old !== undefined) {
      if (!sameHash(old.tokenHash, presented)) return false;
      // Seamless: the old socket is replaced in place, the others notice nothing.
      const token = admit(conn, room, old.peerId);
      room.members = room.members.map((m) => (m === old ? conn : m));
      old.room = null;
      old.closing = true;
      old.ws.close(CLOSE_CODES.replaced, 'replaced by a newer connection');
      metrics.resumed++;
      send(conn, joinedFrame(conn, room, token));
      log.info({ room: roomTag(room.id), seamless: true }, 'peer resumed');
      return true;
    }
    const away = room.away?.find((a) => a.peerId === resume.peerId);
    if (away === undefined || !sameHash(away.tokenHash, presented)) return false;
    if (room.members.length >= config.roomCapacity) {
      reject(conn, 'room-full');
      return true;
    }
    takeAway(room, away);
    const token = admit(conn, room, away.peerId);
    room.members = room.members.concat(conn);
    metrics.resumed++;
    send(conn, joinedFrame(conn, room, token));
    broadcast(room, conn, peerFrame('peer-joined', conn.peerId));
    log.info({ room: roomTag(room.id), seamless: false }, 'peer resumed');
    return true;
  }

  function idTaken(room: Room, peerId: string): boolean {
    return findMember(room, peerId) !== undefined || (room.away?.some((a) => a.peerId === peerId) ?? false);
  }

  function join(conn: Connection, msg: JoinMessage): void {
    if (conn.room !== null) {
      reject(conn, 'already-joined');
      return;
    }
    let room = rooms.get(msg.room);
    if (room === undefined) {
      room = { id: msg.room, members: [], away: null };
      rooms.set(msg.room, room);
    }
    if (tryResume(conn, room, msg)) return;
    if (room.members.length >= config.roomCapacity) {
      log.info({ room: roomTag(room.id) }, 'room full');
      reject(conn, 'room-full', `This call is full (${config.roomCapacity} people).`);
      return;
    }
    let peerId = randomBytes(16).toString('base64url');
    while (idTaken(room, peerId)) peerId = randomBytes(16).toString('base64url');
    const token = admit(conn, room, peerId);
    room.members = room.members.concat(conn);
    send(conn, joinedFrame(conn, room, token));
    for (const other of room.members) {
      if (other === conn) continue;
      const parked = other.parked;
      if (parked === null) {
        send(other, peerFrame('peer-joined', peerId));
        continue;
      }
      // The newcomer gets what was parked for it (the prepared offer) right after `joined`;
      // the parker learns it went, and to whom.
      other.parked = null;
      send(conn, `{"v":${PROTOCOL_VERSION},"type":"signal","from":"${other.peerId}","data":${parked}}`);
      send(other, `{"v":${PROTOCOL_VERSION},"type":"peer-joined","peerId":"${peerId}","parked":true}`);
      metrics.relayed++;
    }
    log.debug({ room: roomTag(room.id), live: room.members.length }, 'peer joined');
  }

  /** Keeps (or, with `data: null`, drops) the sender's message for the next peer to join. */
  function park(conn: Connection, msg: ParkMessage): void {
    if (conn.room === null) {
      reject(conn, 'not-joined');
      return;
    }
    conn.parked = msg.data === null || msg.data === undefined ? null : JSON.stringify(msg.data);
  }

  function overLimit(conn: Connection, now: number): boolean {
    if (take(conn, limits, now)) return false;
    metrics.reject('rate-limited');
    if (now - conn.strikeWindowAt > STRIKE_WINDOW_MS) {
      conn.strikeWindowAt = now;
      conn.strikes = 0;
    }
    conn.strikes++;
    if (conn.strikes > config.rateLimitStrikes) {
      if (!conn.closing) {
        conn.closing = true;
        metrics.reject('rate-limit-disconnect');
        log.warn('rate limit: closing a flooding socket');
        depart(conn, false);
        conn.ws.close(CLOSE_CODES.rateLimited, 'rate limit exceeded');
        setTimeout(() => conn.ws.terminate(), SLOW_CONSUMER_TERMINATE_MS).unref();
      }
    } else if (now - conn.rateErrorAt >= 1000) {
      conn.rateErrorAt = now;
      sendError(conn, 'rate-limited');
    }
    return true;
  }

  /** Forwards a valid `signal` to the named peer of the sender's room, as `from` the sender. */
  function relay(conn: Connection, msg: SignalOutMessage, frame: Buffer, text: string): void {
    const room = conn.room;
    if (room === null) {
      reject(conn, 'not-joined');
      return;
    }
    const target = findMember(room, msg.to);
    if (target === undefined || target === conn) {
      reject(conn, 'unknown-peer');
      return;
    }
    // Canonical frames: the data bytes are copied from the received frame, no re-encoding.
    const out = relayedSignalFrame(conn.peerId, frame, text, msg.to);
    if (out !== null) sendText(target, out);
    else
      send(
        target,
        `{"v":${PROTOCOL_VERSION},"type":"signal","from":"${conn.peerId}","data":${JSON.stringify(msg.data)}}`,
      );
    metrics.relayed++;
  }

  function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const conn = (this as TaggedSocket).parley;
    conn.alive = true;
    if (conn.closing) return;
    metrics.received++;
    if (overLimit(conn, Date.now())) return;
    if (isBinary) {
      reject(conn, 'binary-not-supported');
      return;
    }
    try {
      // Text frames arrive as one Buffer (no fragments array: we never set binaryType), and ws
      // has already checked that it is valid UTF-8.
      const frame = data as Buffer;
      const text = frame.toString();
      const parsed = parseJson(text);
      // The hot path: a `signal`, checked by hand (property-tested against the schema).
      if (isSignalMessage(parsed)) {
        relay(conn, parsed, frame, text);
        return;
      }
      const decoded = decodeParsed(parsed);
      if (!decoded.ok) {
        reject(conn, decoded.code as ErrorCode & RejectionReason, decoded.message);
        return;
      }
      const msg = decoded.message;
      switch (msg.type) {
        case 'signal':
          relay(conn, msg, frame, text);
          return;
        case 'join':
          join(conn, msg);
          return;
        case 'park':
          park(conn, msg);
          return;
        case 'leave':
          depart(conn, false);
          return;
        case 'ping':
          send(conn, `{"v":${PROTOCOL_VERSION},"type":"pong"}`);
          return;
      }
    } catch (err) {
      log.error({ err }, 'unexpected error while handling a message');
      sendError(conn, 'internal');
    }
  }

  function onPong(this: WebSocket): void {
    (this as TaggedSocket).parley.alive = true;
  }

  function onError(this: WebSocket, err: Error & { code?: string }): void {
    // ws closes the socket itself after these (1009 for too large, 1002 for protocol errors).
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.reject('too-large');
    else metrics.reject('protocol-error');
    log.debug({ code: err.code }, 'socket error');
  }

  function onClose(this: WebSocket): void {
    const conn = (this as TaggedSocket).parley;
    conns.delete(conn);
    const entry = conn.ipEntry;
    if (--entry.count <= 0) perIp.delete(entry.ip);
    depart(conn, true);
  }

  function clientIp(req: IncomingMessage): string {
    if (config.trustProxy) {
      const forwarded = req.headers['x-forwarded-for'];
      const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? ''))
        .split(',')
        .pop()
        ?.trim();
      if (last) return last;
    }
    const socket = req.socket as typeof req.socket & { _peername?: unknown };
    const address = socket.remoteAddress ?? 'unknown';
    // Node caches the address in an object on the socket for its lifetime; we keep the
    // string ourselves (shared per IP), so drop the cache: ~100 bytes per idle socket.
    socket._peername = undefined;
    return address;
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroySocket);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (shuttingDown) {
      metrics.reject('shutting-down');
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    if (path !== '/ws') {
      metrics.reject('bad-path');
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    const origin = req.headers.origin;
    if (!origins.allows(origin, req.headers.host)) {
      metrics.reject('origin');
      log.info({ origin: origin?.slice(0, 100) }, 'refused a WebSocket from a foreign origin');
      refuseUpgrade(socket, 403, 'Forbidden');
      return;
    }
    const ip = clientIp(req);
    const count = perIp.get(ip)?.count ?? 0;
    if (count >= config.maxConnectionsPerIp) {
      metrics.reject('per-ip-limit');
      log.info({ count }, 'refused a WebSocket: too many connections from one address');
      refuseUpgrade(socket, 429, 'Too Many Requests');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // From here on ws handles socket errors; a second listener would cost an array per socket.
      socket.off('error', destroySocket);
      let entry = perIp.get(ip);
      if (entry === undefined) {
        entry = { ip, count: 0 };
        perIp.set(ip, entry);
      }
      entry.count++;
      const conn = new Connection(ws, entry, config.rateLimitBurst, Date.now());
      (ws as TaggedSocket).parley = conn;
      conns.add(conn);
      ws.on('message', onMessage);
      ws.on('pong', onPong);
      ws.on('error', onError);
      ws.on('close', onClose);
    });
  }

  async function shutdown(): Promise<void> {
    shuttingDown = true;
    clearInterval(heartbeat);
    const frame = errorFrame('server-shutdown', ERROR_TEXT['server-shutdown'] ?? '');
    for (const conn of conns) {
      conn.closing = true;
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(frame);
      conn.ws.close(CLOSE_CODES.shutdown, 'server shutting down');
    }
    const deadline = Date.now() + config.shutdownGraceMs;
    while (conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of conns) conn.ws.terminate();
    for (const room of rooms.values()) for (const away of room.away ?? []) clearTimeout(away.timer);
    rooms.clear();
  }

  return {
    handleUpgrade,
    shutdown,
    socketCount: () => conns.size,
    roomCount: () => rooms.size,
  };
}
