/**
 * The WebSocket side of the server: rooms, relay, limits, heartbeat, resume.
 *
 * Per-connection state is one small `Connection` object hung on the socket, and the event
 * handlers are shared functions (no closures per socket), so an idle socket costs little
 * more than `ws` itself. The relay path is: token bucket → JSON.parse → hand-written
 * `signal` check → Map lookup → one string concatenation → send → backpressure check.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  CLOSE_CODES,
  type ErrorCode,
  type JoinMessage,
  PROTOCOL_VERSION,
} from '../src/protocol/signaling.ts';
import { decodeClientMessage } from './client-message.ts';
import type { ServerConfig } from './config.ts';
import { type Logger, roomTag } from './log.ts';
import type { Metrics, RejectionReason } from './metrics.ts';
import { originPolicy } from './origin-policy.ts';
import { take } from './token-bucket.ts';
import { iceServersFor } from './turn-credentials.ts';

interface Member {
  readonly peerId: string;
  /** sha256(resume token), base64url; the token itself is never stored. */
  tokenHash: string;
  /** null while the peer is away and its id can still be reclaimed. */
  conn: Connection | null;
  readonly room: Room;
  graceTimer: NodeJS.Timeout | null;
}

interface Room {
  readonly id: string;
  readonly tag: string;
  /** Insertion order = join order, so `peers` lists the oldest first. */
  readonly members: Map<string, Member>;
  live: number;
}

class Connection {
  member: Member | null = null;
  tokens: number;
  refilledAt: number;
  alive = true;
  strikes = 0;
  strikeWindowAt = 0;
  rateErrorAt = 0;
  closing = false;
  constructor(
    readonly ws: WebSocket,
    readonly ip: string,
    burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }
}

type TaggedSocket = WebSocket & { parley: Connection };

const STRIKE_WINDOW_MS = 10_000;
const SLOW_CONSUMER_TERMINATE_MS = 2000;

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
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
  const perIp = new Map<string, number>();
  const limits = { burst: config.rateLimitBurst, perSec: config.rateLimitPerSec };
  let shuttingDown = false;

  const heartbeat = setInterval(() => {
    for (const conn of conns) {
      if (!conn.alive) {
        metrics.reject('heartbeat-timeout');
        log.debug({ ip: conn.ip }, 'heartbeat timeout: terminating socket');
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
    ws.send(frame);
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
    log.warn({ ip: conn.ip, buffered: conn.ws.bufferedAmount }, 'slow consumer: closing socket');
    depart(conn, true);
    conn.ws.close(CLOSE_CODES.slowConsumer, 'slow consumer');
    setTimeout(() => conn.ws.terminate(), SLOW_CONSUMER_TERMINATE_MS).unref();
  }

  function broadcast(room: Room, except: Member, frame: string): void {
    for (const other of room.members.values()) {
      if (other !== except && other.conn !== null) send(other.conn, frame);
    }
  }

  function joinedFrame(member: Member, token: string): string {
    const peers: string[] = [];
    for (const other of member.room.members.values()) {
      if (other !== member && other.conn !== null) peers.push(other.peerId);
    }
    return JSON.stringify({
      v: PROTOCOL_VERSION,
      type: 'joined',
      room: member.room.id,
      peerId: member.peerId,
      resumeToken: token,
      peers,
      iceServers: iceServersFor(config, Date.now()),
      capacity: config.roomCapacity,
    });
  }

  function peerFrame(type: 'peer-joined' | 'peer-left', peerId: string): string {
    return `{"v":${PROTOCOL_VERSION},"type":"${type}","peerId":"${peerId}"}`;
  }

  function forget(member: Member): void {
    if (member.graceTimer !== null) clearTimeout(member.graceTimer);
    member.graceTimer = null;
    const room = member.room;
    room.members.delete(member.peerId);
    if (room.members.size === 0) rooms.delete(room.id);
  }

  /** The connection's member leaves its room; `resumable` keeps its id reclaimable for a while. */
  function depart(conn: Connection, resumable: boolean): void {
    const member = conn.member;
    if (member === null) return;
    conn.member = null;
    member.conn = null;
    const room = member.room;
    room.live--;
    broadcast(room, member, peerFrame('peer-left', member.peerId));
    if (resumable && config.resumeGraceMs > 0 && !shuttingDown) {
      member.graceTimer = setTimeout(() => forget(member), config.resumeGraceMs);
      member.graceTimer.unref();
    } else {
      forget(member);
    }
    log.debug({ room: room.tag, live: room.live }, 'peer left');
  }

  function tryResume(conn: Connection, room: Room, msg: JoinMessage): boolean {
    const resume = msg.resume;
    if (resume === undefined) return false;
    const member = room.members.get(resume.peerId);
    if (member === undefined || !sameHash(member.tokenHash, hashToken(resume.token))) return false;
    const old = member.conn;
    if (old === null && room.live >= config.roomCapacity) {
      reject(conn, 'room-full');
      return true;
    }
    const token = randomBytes(16).toString('base64url');
    member.tokenHash = hashToken(token);
    member.conn = conn;
    conn.member = member;
    metrics.resumed++;
    if (old !== null) {
      // Seamless: the old socket is replaced, the others notice nothing.
      old.member = null;
      old.closing = true;
      old.ws.close(CLOSE_CODES.replaced, 'replaced by a newer connection');
      send(conn, joinedFrame(member, token));
    } else {
      if (member.graceTimer !== null) clearTimeout(member.graceTimer);
      member.graceTimer = null;
      room.live++;
      send(conn, joinedFrame(member, token));
      broadcast(room, member, peerFrame('peer-joined', member.peerId));
    }
    log.info({ room: room.tag, seamless: old !== null }, 'peer resumed');
    return true;
  }

  function join(conn: Connection, msg: JoinMessage): void {
    if (conn.member !== null) {
      reject(conn, 'already-joined');
      return;
    }
    let room = rooms.get(msg.room);
    if (room === undefined) {
      room = { id: msg.room, tag: roomTag(msg.room), members: new Map(), live: 0 };
      rooms.set(msg.room, room);
    }
    if (tryResume(conn, room, msg)) return;
    if (room.live >= config.roomCapacity) {
      log.info({ room: room.tag }, 'room full');
      reject(conn, 'room-full', `This call is full (${config.roomCapacity} people).`);
      return;
    }
    let peerId = randomBytes(16).toString('base64url');
    while (room.members.has(peerId)) peerId = randomBytes(16).toString('base64url');
    const token = randomBytes(16).toString('base64url');
    const member: Member = { peerId, tokenHash: hashToken(token), conn, room, graceTimer: null };
    room.members.set(peerId, member);
    room.live++;
    conn.member = member;
    send(conn, joinedFrame(member, token));
    broadcast(room, member, peerFrame('peer-joined', peerId));
    log.debug({ room: room.tag, live: room.live }, 'peer joined');
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
        log.warn({ ip: conn.ip }, 'rate limit: closing a flooding socket');
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
      // Text frames arrive as one Buffer (no fragments array: we never set binaryType).
      const decoded = decodeClientMessage((data as Buffer).toString());
      if (!decoded.ok) {
        reject(conn, decoded.code as ErrorCode & RejectionReason, decoded.message);
        return;
      }
      const msg = decoded.message;
      switch (msg.type) {
        case 'signal': {
          const member = conn.member;
          if (member === null) {
            reject(conn, 'not-joined');
            return;
          }
          const target = member.room.members.get(msg.to);
          if (target === undefined || target === member || target.conn === null) {
            reject(conn, 'unknown-peer');
            return;
          }
          send(
            target.conn,
            `{"v":${PROTOCOL_VERSION},"type":"signal","from":"${member.peerId}","data":${JSON.stringify(msg.data)}}`,
          );
          metrics.relayed++;
          return;
        }
        case 'join':
          join(conn, msg);
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
    log.debug({ code: err.code, ip: (this as TaggedSocket).parley.ip }, 'socket error');
  }

  function onClose(this: WebSocket): void {
    const conn = (this as TaggedSocket).parley;
    conns.delete(conn);
    const left = (perIp.get(conn.ip) ?? 1) - 1;
    if (left <= 0) perIp.delete(conn.ip);
    else perIp.set(conn.ip, left);
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
    return req.socket.remoteAddress ?? 'unknown';
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
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
    const count = perIp.get(ip) ?? 0;
    if (count >= config.maxConnectionsPerIp) {
      metrics.reject('per-ip-limit');
      log.info({ count }, 'refused a WebSocket: too many connections from one address');
      refuseUpgrade(socket, 429, 'Too Many Requests');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
      const conn = new Connection(ws, ip, config.rateLimitBurst, Date.now());
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
    for (const room of rooms.values()) for (const m of room.members.values()) forget(m);
  }

  return {
    handleUpgrade,
    shutdown,
    socketCount: () => conns.size,
    roomCount: () => rooms.size,
  };
}
