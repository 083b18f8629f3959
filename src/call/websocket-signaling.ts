/**
 * `Signaling` over a direct WebSocket to the server (the guest page; the extension uses a
 * runtime port to its service worker instead). Every server message is validated. A
 * keepalive ping goes out every 20 s; a lost socket is reopened with jittered exponential
 * backoff and the room re-joined with `resume`, so our peer id stays the same and the other
 * side keeps its call. `room-full` and `unsupported-version` are final.
 */
import { signalingSocketUrl } from '../protocol/link.ts';
import {
  CLOSE_CODES,
  type ClientMessage,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
} from '../protocol/signaling.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { Emitter } from './emitter.ts';
import type { JoinedInfo, Signaling, SignalingEvents, SignalingStatus } from './signaling.ts';

/** The part of the browser's WebSocket we use (the `ws` package fits it too, for tests). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface WebSocketSignalingOptions {
  /** Server origin, e.g. `https://parley.example` (see src/protocol/link.ts). */
  server: string;
  keepaliveMs?: number;
  backoff?: BackoffOptions;
  /** How to open a socket; defaults to the browser's WebSocket. */
  createSocket?: (url: string) => WebSocketLike;
  /** Signals queued while reconnecting; beyond this the oldest are dropped. */
  maxQueued?: number;
}

const OPEN = 1;
const FINAL_ERRORS = new Set(['room-full', 'unsupported-version']);

export class WebSocketSignaling implements Signaling {
  private readonly events = new Emitter<SignalingEvents>();
  private readonly url: string;
  private readonly keepaliveMs: number;
  private readonly backoff: Backoff;
  private readonly createSocket: (url: string) => WebSocketLike;
  private readonly maxQueued: number;
  private socket: WebSocketLike | null = null;
  private room: string | null = null;
  private resume: { peerId: string; token: string } | null = null;
  private joinedOnce = false;
  private stopped = false;
  private keepalive: ReturnType<typeof setInterval> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private queue: string[] = [];
  private pendingJoin: { resolve: (info: JoinedInfo) => void; reject: (err: Error) => void } | null = null;
  private unreachableReported = false;
  private currentStatus: SignalingStatus = 'closed';

  constructor(options: WebSocketSignalingOptions) {
    this.url = signalingSocketUrl(options.server);
    this.keepaliveMs = options.keepaliveMs ?? 20_000;
    this.backoff = new Backoff(options.backoff);
    this.createSocket = options.createSocket ?? ((url) => new WebSocket(url) as unknown as WebSocketLike);
    this.maxQueued = options.maxQueued ?? 200;
  }

  get status(): SignalingStatus {
    return this.currentStatus;
  }

  /** Our peer id once joined. */
  get peerId(): string | null {
    return this.resume?.peerId ?? null;
  }

  /**
   * Open the socket now, before joining (e.g. while the guest reads the join card), so that
   * `join` costs one message instead of a TCP and WebSocket handshake. Joins nothing: the
   * server learns only that someone connected. A preconnected socket that closes is not
   * reopened until `join`.
   */
  preconnect(): void {
    if (this.stopped || this.socket || this.room !== null) return;
    this.openSocket();
  }

  join(room: string): Promise<JoinedInfo> {
    if (this.room !== null) return Promise.reject(new Error('Already joined a room.'));
    this.room = room;
    return new Promise<JoinedInfo>((resolve, reject) => {
      this.pendingJoin = { resolve, reject };
      const socket = this.socket;
      if (socket) this.setStatus('connecting');
      if (socket?.readyState === OPEN) this.sendJoin(socket);
      else if (!socket) this.connect();
      // else: still connecting from preconnect(); onopen sends the join.
    });
  }

  send(to: string, data: unknown): void {
    const frame = JSON.stringify({ v: PROTOCOL_VERSION, type: 'signal', to, data } satisfies ClientMessage);
    if (this.socket?.readyState === OPEN && this.joinedNow) {
      this.socket.send(frame);
      return;
    }
    if (this.stopped) return;
    this.queue.push(frame);
    if (this.queue.length > this.maxQueued) this.queue.shift();
  }

  park(data: unknown): void {
    const socket = this.socket;
    if (this.stopped || !this.joinedNow || socket?.readyState !== OPEN) return;
    this.raw(socket, { v: PROTOCOL_VERSION, type: 'park', data });
  }

  on<K extends keyof SignalingEvents>(event: K, handler: SignalingEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  leave(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.keepalive);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      this.detach(socket);
      if (socket.readyState === OPEN) this.raw(socket, { v: PROTOCOL_VERSION, type: 'leave' });
      // Frames queued before close() are still sent.
      socket.close(1000, 'leave');
    }
    this.queue = [];
    this.pendingJoin?.reject(new Error('Left the call.'));
    this.pendingJoin = null;
    this.setStatus('closed');
  }

  // ---------- internals ----------

  /** True between our `joined` and the socket closing. */
  private joinedNow = false;

  private connect(): void {
    if (this.stopped || this.room === null) return;
    this.setStatus(this.joinedOnce ? 'reconnecting' : 'connecting');
    this.openSocket();
  }

  private openSocket(): void {
    let socket: WebSocketLike;
    try {
      socket = this.createSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.room !== null) this.sendJoin(socket);
      clearInterval(this.keepalive);
      this.keepalive = setInterval(() => {
        if (socket.readyState === OPEN) this.raw(socket, { v: PROTOCOL_VERSION, type: 'ping' });
      }, this.keepaliveMs);
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const message = parseServerMessage(ev.data);
      // Malformed frames are dropped: the server is not trusted to be well behaved.
      if (message) this.handle(socket, message);
    };
    socket.onerror = () => {
      // A close event always follows; reconnecting is decided there.
    };
    socket.onclose = (ev) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.joinedNow = false;
      clearInterval(this.keepalive);
      if (this.stopped || this.room === null) return;
      if (ev.code === CLOSE_CODES.replaced) {
        this.fail('replaced', 'This call was opened somewhere else.');
        return;
      }
      if (!this.joinedOnce && !this.unreachableReported) {
        this.unreachableReported = true;
        this.events.emit('error', 'unreachable', 'Cannot reach the call server. Trying again…');
      }
      this.scheduleReconnect();
    };
  }

  private handle(socket: WebSocketLike, message: ServerMessage): void {
    switch (message.type) {
      case 'joined': {
        const fresh = !this.joinedOnce;
        this.joinedOnce = true;
        this.joinedNow = true;
        this.unreachableReported = false;
        this.resume = { peerId: message.peerId, token: message.resumeToken };
        this.backoff.reset();
        const info: JoinedInfo = {
          room: message.room,
          peerId: message.peerId,
          peers: message.peers,
          iceServers: message.iceServers,
          capacity: message.capacity,
          canPark: message.features?.includes('park') ?? false,
        };
        this.setStatus('open');
        const queued = this.queue;
        this.queue = [];
        for (const frame of queued) socket.send(frame);
        if (fresh && this.pendingJoin) {
          this.pendingJoin.resolve(info);
          this.pendingJoin = null;
        }
        this.events.emit('joined', info);
        return;
      }
      case 'peer-joined':
        this.events.emit('peerJoined', message.peerId, message.parked === true);
        return;
      case 'peer-left':
        this.events.emit('peerLeft', message.peerId);
        return;
      case 'signal':
        this.events.emit('signal', message.from, message.data);
        return;
      case 'pong':
        return;
      case 'error':
        if (FINAL_ERRORS.has(message.code)) {
          this.fail(message.code, message.message);
          return;
        }
        this.events.emit('error', message.code, message.message);
        return;
    }
  }

  /** A final error: tell the listeners, stop for good. */
  private fail(code: string, message: string): void {
    this.events.emit('error', code, message);
    this.pendingJoin?.reject(Object.assign(new Error(message), { code }));
    this.pendingJoin = null;
    this.leave();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.setStatus(this.joinedOnce ? 'reconnecting' : 'connecting');
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), this.backoff.next());
  }

  private sendJoin(socket: WebSocketLike): void {
    const join: ClientMessage = { v: PROTOCOL_VERSION, type: 'join', room: this.room ?? '' };
    if (this.resume) join.resume = this.resume;
    this.raw(socket, join);
  }

  private raw(socket: WebSocketLike, message: ClientMessage): void {
    socket.send(JSON.stringify(message));
  }

  private detach(socket: WebSocketLike): void {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
  }

  private setStatus(status: SignalingStatus): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    this.events.emit('status', status);
  }
}
