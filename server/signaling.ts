/**
 * The WebSocket side of the server: sockets, limits, heartbeat, parsing; rooms, relay and
 * resume are a `Rooms` (rooms.ts: in memory, or in Redis across nodes).
 *
 * Per-connection state is one small `Connection` object hung on the socket, and the event
 * handlers are shared functions (no closures per socket), so an idle socket costs little
 * more than `ws` itself. The relay path is: token bucket → JSON.parse → hand-written
 * `signal` check → member lookup → the received data bytes copied behind a new head
 * (relayedSignalFrame) → send → backpressure check.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  CLOSE_CODES,
  type CountMessage,
  type ErrorCode,
  type JoinMessage,
  type ParkMessage,
  type SignalOutMessage,
} from '../src/protocol/signaling.ts';
import { decodeParsed, isSignalMessage, parseJson } from './client-message.ts';
import type { ServerConfig } from './config.ts';
import { countFrame, countNonceFrame, errorFrame, PONG_FRAME } from './frames.ts';
import type { Logger } from './log.ts';
import { createMemoryRooms } from './memory-rooms.ts';
import type { Metrics, RejectionReason } from './metrics.ts';
import { originPolicy } from './origin-policy.ts';
import { createPresence, type PresenceSession } from './presence.ts';
import { createMemoryDirectory, type PresenceDirectory } from './presence-directory.ts';
import { countProofHolds, joinKeyError, type Member, type Outbox, type Rooms, randomId } from './rooms.ts';
import { take } from './token-bucket.ts';
import { iceServersFor } from './turn-credentials.ts';

/** One per client address, shared by its connections (one string, one counter). */
interface IpEntry {
  readonly ip: string;
  count: number;
}

/**
 * Everything the server keeps for one socket, including its room membership: no separate
 * member object, so an idle joined socket costs one small object beyond `ws` itself.
 */
export class Connection implements Member {
  room: object | null = null;
  peerId = '';
  tokenHash = '';
  /** The nonce a `count` proves the team room key over (`count-nonce` makes a new one). */
  countNonce: string | null = null;
  tokens: number;
  refilledAt: number;
  alive = true;
  strikes = 0;
  strikeWindowAt = 0;
  rateErrorAt = 0;
  closing = false;
  parked: string | null = null;
  /** Presence and rings (presence.ts); null until the socket asks for a challenge. */
  presence: PresenceSession<Connection> | null = null;
  constructor(
    readonly ws: WebSocket,
    readonly ipEntry: IpEntry,
    /** The origin the client reached us at (interned, see presenceOrigin). */
    readonly origin: string,
    burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }
}

/**
 * ws queues a socket's incoming chunks in an array (its Receiver's `_buffers`): the first
 * message grows it to 17 slots, ~150 bytes kept for the socket's life although it is empty
 * between messages. After a message other than `signal` (the last one an idle socket sends:
 * join, register, mailboxes, watch, ping) it is swapped for a fresh empty array; the relay
 * path keeps its array. Checked, not assumed: if ws stores it otherwise, nothing happens.
 */
function releaseReadQueue(ws: WebSocket): void {
  const receiver = (ws as unknown as { _receiver?: { _buffers?: unknown } })._receiver;
  if (receiver !== undefined && Array.isArray(receiver._buffers) && receiver._buffers.length === 0) {
    receiver._buffers = [];
  }
}

/** A server socket with its connection state; see socketClass. */
type ParleySocket = WebSocket & { parley: Connection };

interface SocketHandlers {
  message(ws: ParleySocket, data: RawData, isBinary: boolean): void;
  pong(ws: ParleySocket): void;
  error(ws: ParleySocket, err: Error & { code?: string }): void;
  close(ws: ParleySocket): void;
}

/**
 * The socket class ws makes for each connection of one server (its `WebSocket` option): ws's
 * own, whose `emit` calls that server's shared handlers directly. Four `on()` listeners per
 * socket would fill its event table, a dictionary-mode object of ~0.25 KB per socket; here it
 * has none: EventEmitter makes one when a listener is first added (it allows `_events` to be
 * undefined), and events other than these four still go through `emit` as usual.
 */
function socketClass(handlers: SocketHandlers): typeof WebSocket {
  const ServerSocket = class extends WebSocket {
    // ws makes server sockets as `new WebSocket(null, undefined, options)`.
    constructor(...args: [null]) {
      super(...args);
      (this as unknown as { _events: undefined })._events = undefined;
    }

    // At most two arguments (ws emits no more on a server socket): no rest array per message.
    override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
      const ws = this as unknown as ParleySocket;
      // Events before handleUpgrade's callback has tagged the socket take the usual way.
      if (ws.parley !== undefined) {
        switch (event) {
          case 'message':
            handlers.message(ws, a as RawData, b as boolean);
            return true;
          case 'pong':
            handlers.pong(ws);
            return true;
          case 'error':
            handlers.error(ws, a as Error & { code?: string });
            return true;
          case 'close':
            handlers.close(ws);
            return true;
        }
      }
      return super.emit(event, a, b);
    }
  };
  // Its constructor takes only what ws passes to it (see above), not a client's arguments.
  return ServerSocket as unknown as typeof WebSocket;
}

const STRIKE_WINDOW_MS = 10_000;
const TEXT_FRAME = { binary: false } as const;
const SLOW_CONSUMER_TERMINATE_MS = 2000;

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

/** Makes the room state for a server: in memory unless given another (Redis). */
export type RoomsFactory = (outbox: Outbox<Connection>) => Rooms<Connection>;

/** Makes the presence directory: in memory unless given another (Redis). */
export type DirectoryFactory = () => PresenceDirectory<PresenceSession<Connection>>;

export interface SignalingServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Tell every client, close them, and resolve once all are gone (or cut after the grace). */
  shutdown(): Promise<void>;
  socketCount(): number;
  roomCount(): number;
  /** The room store and presence directory can serve joins and rings (with Redis: connected). */
  ready(): boolean;
}

export function createSignalingServer(
  config: ServerConfig,
  log: Logger,
  metrics: Metrics,
  makeRooms?: RoomsFactory,
  makeDirectory?: DirectoryFactory,
): SignalingServer {
  const wss = new WebSocketServer({
    // Function declarations below: hoisted, and only called once sockets exist.
    WebSocket: socketClass({ message: onMessage, pong: onPong, error: onError, close: onClose }),
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: config.maxPayload,
  });
  const origins = originPolicy(config.allowedOrigins, config.allowNoOrigin);
  const conns = new Set<Connection>();
  const perIp = new Map<string, IpEntry>();
  const limits = { burst: config.rateLimitBurst, perSec: config.rateLimitPerSec };
  let shuttingDown = false;
  const directory = makeDirectory?.() ?? createMemoryDirectory<PresenceSession<Connection>>(config);
  const presence = createPresence<Connection>(
    { publicOrigin: config.publicOrigin, ringBurst: config.ringBurst, ringPerMin: config.ringPerMin },
    {
      send,
      sendError: (conn, code, message) => sendError(conn, code, message),
      ip: (conn) => conn.ipEntry.ip,
      origin: (conn) => conn.origin,
    },
    log,
    metrics,
    directory,
  );
  /** Origins seen in Host headers, so each socket holds a shared string (bounded: headers are client input). */
  const seenOrigins = new Map<string, string>();
  function presenceOrigin(req: IncomingMessage): string {
    if (config.publicOrigin !== null) return config.publicOrigin;
    // Behind your own proxy (TRUST_PROXY) TLS usually ends at the proxy: take its word for the scheme.
    const forwarded = config.trustProxy
      ? String(req.headers['x-forwarded-proto'] ?? '')
          .split(',')[0]
          ?.trim()
      : '';
    const scheme =
      forwarded === 'https' || forwarded === 'http' ? forwarded : config.tlsCert !== null ? 'https' : 'http';
    const origin = `${scheme}://${req.headers.host ?? ''}`;
    const known = seenOrigins.get(origin);
    if (known !== undefined) return known;
    if (seenOrigins.size < 64) seenOrigins.set(origin, origin);
    return origin;
  }

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

  function send(conn: Connection, frame: string | Buffer): void {
    const ws = conn.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    // Always the same options object, strings and bytes alike: ws.send spreads it into a new
    // one, and mixing calls with and without options sent every relayed message through V8's
    // slow path for object literals (seen in `perf`: DefineKeyedOwnPropertyInLiteral, map
    // migrations; about 0.5 µs per message).
    ws.send(frame, TEXT_FRAME);
    if (ws.bufferedAmount > config.maxBufferedBytes) slowConsumer(conn);
  }

  function sendError(conn: Connection, code: ErrorCode, message?: string): void {
    send(conn, errorFrame(code, message));
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

  const outbox: Outbox<Connection> = {
    send,
    reject,
    refuse(conn, code, message) {
      if (conn.closing) return;
      sendError(conn, code, message);
      conn.closing = true;
      conn.ws.close(CLOSE_CODES.tryAgainLater, 'try again later');
    },
    replaced(old) {
      old.closing = true;
      old.ws.close(CLOSE_CODES.replaced, 'replaced by a newer connection');
    },
    resumed() {
      metrics.resumed++;
    },
    relayed(count = 1) {
      metrics.relayed += count;
    },
    dropped(count) {
      metrics.dropped += count;
    },
  };
  const rooms: Rooms<Connection> =
    makeRooms?.(outbox) ?? createMemoryRooms(config, outbox, () => iceServersFor(config, Date.now()), log);

  function depart(conn: Connection, resumable: boolean): void {
    rooms.depart(conn, resumable);
  }

  function join(conn: Connection, msg: JoinMessage): void {
    if (conn.room !== null || rooms.joining(conn)) {
      reject(conn, 'already-joined');
      return;
    }
    const keyError = joinKeyError(msg.room, msg.key);
    if (keyError !== null) {
      reject(conn, 'bad-key', keyError);
      return;
    }
    rooms.join(conn, msg);
  }

  /**
   * How many people are in a team room, for whoever proves its key over this socket's nonce.
   * An empty room, an ordinary room and a wrong proof all answer 0: someone who knows only a
   * room id learns nothing from asking.
   */
  async function count(conn: Connection, msg: CountMessage): Promise<void> {
    const nonce = conn.countNonce;
    if (nonce === null) {
      reject(conn, 'bad-message', 'Ask for a count-nonce first.');
      return;
    }
    let people = 0;
    try {
      const team = await rooms.team(msg.room);
      if (team !== null && countProofHolds(team.key, nonce, msg.room, msg.proof)) people = team.people;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'count failed: room store unavailable');
      sendError(conn, 'unavailable');
      return;
    }
    send(conn, countFrame(msg.room, people));
  }

  /** Keeps (or, with `data: null`, drops) the sender's message for the next peer to join. */
  function park(conn: Connection, msg: ParkMessage): void {
    if (conn.room === null) {
      reject(conn, 'not-joined');
      return;
    }
    rooms.park(conn, msg.data === null || msg.data === undefined ? null : JSON.stringify(msg.data));
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
    if (conn.room === null) {
      reject(conn, 'not-joined');
      return;
    }
    if (!rooms.relay(conn, msg, frame, text)) reject(conn, 'unknown-peer');
  }

  function onMessage(ws: ParleySocket, data: RawData, isBinary: boolean): void {
    const conn = ws.parley;
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
      releaseReadQueue(ws);
      const decoded = decodeParsed(parsed);
      if (!decoded.ok) {
        reject(conn, decoded.code as ErrorCode & RejectionReason, decoded.message);
        if (decoded.fatal) closeMalformed(conn);
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
          send(conn, PONG_FRAME);
          return;
        case 'count-nonce':
          conn.countNonce = randomId();
          send(conn, countNonceFrame(conn.countNonce));
          return;
        case 'count':
          void count(conn, msg);
          return;
        default:
          presence.handle(conn, msg, Date.now());
          return;
      }
    } catch (err) {
      log.error({ err }, 'unexpected error while handling a message');
      sendError(conn, 'internal');
    }
  }

  /** A malformed presence or ring message: this socket only is closed (1008), after the error. */
  function closeMalformed(conn: Connection): void {
    if (conn.closing) return;
    conn.closing = true;
    metrics.reject('malformed-presence');
    depart(conn, false);
    presence.disconnect(conn);
    conn.ws.close(CLOSE_CODES.policy, 'malformed presence message');
    setTimeout(() => conn.ws.terminate(), SLOW_CONSUMER_TERMINATE_MS).unref();
  }

  function onPong(ws: ParleySocket): void {
    ws.parley.alive = true;
  }

  function onError(_ws: ParleySocket, err: Error & { code?: string }): void {
    // ws closes the socket itself after these (1009 for too large, 1002 for protocol errors).
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.reject('too-large');
    else metrics.reject('protocol-error');
    log.debug({ code: err.code }, 'socket error');
  }

  function onClose(ws: ParleySocket): void {
    const conn = ws.parley;
    conns.delete(conn);
    const entry = conn.ipEntry;
    if (--entry.count <= 0) perIp.delete(entry.ip);
    depart(conn, true);
    presence.disconnect(conn);
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
      const conn = new Connection(ws, entry, presenceOrigin(req), config.rateLimitBurst, Date.now());
      (ws as ParleySocket).parley = conn;
      conns.add(conn);
    });
  }

  async function shutdown(): Promise<void> {
    // No new sockets from here (503); the rooms' drain resolves once signals for our members
    // no longer come here (with Redis: they are kept for the nodes the members resume on).
    shuttingDown = true;
    clearInterval(heartbeat);
    await rooms.drain();
    const frame = errorFrame('server-shutdown');
    for (const conn of conns) {
      conn.closing = true;
      if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(frame);
      conn.ws.close(CLOSE_CODES.shutdown, 'server shutting down');
    }
    const deadline = Date.now() + config.shutdownGraceMs;
    while (conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const conn of conns) conn.ws.terminate();
    await rooms.close();
    presence.close();
    await directory.close();
  }

  return {
    handleUpgrade,
    shutdown,
    socketCount: () => conns.size,
    roomCount: () => rooms.count(),
    ready: () => rooms.ready() && directory.ready(),
  };
}
