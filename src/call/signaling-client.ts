/**
 * The one client of the signaling server (src/protocol/signaling.ts), used by the guest page
 * and by the extension's service worker: one WebSocket, kept open while anything needs it.
 *
 * It owns the connection, not what is said on it: every frame is validated here, a keepalive
 * `ping` goes out every 20 s (Chrome ≥116 keeps a service worker alive while its WebSocket
 * exchanges a message at least every 30 s), and a lost socket is reopened with jittered
 * exponential backoff for as long as a part is attached. What to say on a (re)opened socket
 * and what to do with the server's messages belongs to the parts: a room membership today
 * (./room-signaling.ts); presence (register with a signed challenge) and rings are further
 * parts on the same socket.
 *
 * No DOM or chrome API: the socket is made by the injected `connect`, so the client runs in a
 * page, a service worker, Node (the `ws` package fits `WebSocketLike`) and unit tests alike.
 */
import { signalingSocketUrl } from '../protocol/link.ts';
import {
  type PresenceClientMessage,
  type PresenceServerMessage,
  parsePresenceServerMessage,
} from '../protocol/presence.ts';
import {
  type ClientMessage,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
} from '../protocol/signaling.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';

/** The part of the browser's WebSocket we use (the `ws` package fits it too). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** Anything the server may send on the socket: room messages and presence/ring messages. */
export type IncomingMessage = ServerMessage | PresenceServerMessage;
/** Anything a part may send. */
export type OutgoingMessage = ClientMessage | PresenceClientMessage;

/** One user of the connection: a room membership, later presence. */
export interface SignalingPart {
  /** The socket is open, the first time or again after a reconnect: say what this part needs. */
  opened(): void;
  /** A valid server message (never `pong`); true if it was this part's. */
  received(message: IncomingMessage): boolean;
  /**
   * The socket closed (`code` as the WebSocket reports it; 1006 when it never opened). It is
   * reopened after a backoff unless every part has detached by then.
   */
  closed(code: number): void;
}

export interface SignalingClientOptions {
  /** Server origin, e.g. `https://parley.example` (see src/protocol/link.ts). */
  server: string;
  /** Opens a socket, e.g. `(url) => new WebSocket(url)`. */
  connect: (url: string) => WebSocketLike;
  /** Interval of the application-level keepalive, default 20 s. */
  keepaliveMs?: number;
  /**
   * Called with every keepalive (the service worker passes src/platform's keepBackgroundAlive:
   * Firefox's event page needs an extension API call as well as the socket traffic).
   */
  onKeepalive?: () => void;
  /** Reconnect delays, default 0.5 s doubling up to 10 s, jittered (./backoff.ts). */
  backoff?: BackoffOptions;
}

export const KEEPALIVE_MS = 20_000;
/** How we close a socket no part needs any more. */
const NORMAL_CLOSURE = 1000;
/** What a socket that failed before opening reports. */
const ABNORMAL_CLOSURE = 1006;
const OPEN = 1;

/** The connection's one state: at most one socket or one pending retry at a time. */
type ConnectionState =
  | { kind: 'idle' }
  | { kind: 'connecting'; socket: WebSocketLike }
  | { kind: 'open'; socket: WebSocketLike; keepalive: ReturnType<typeof setInterval> }
  | { kind: 'waiting'; retry: ReturnType<typeof setTimeout> };

export class SignalingClient {
  readonly url: string;
  readonly #connect: (url: string) => WebSocketLike;
  readonly #keepaliveMs: number;
  readonly #onKeepalive: () => void;
  readonly #backoff: Backoff;
  readonly #parts = new Set<SignalingPart>();
  #state: ConnectionState = { kind: 'idle' };

  constructor(options: SignalingClientOptions) {
    this.url = signalingSocketUrl(options.server);
    this.#connect = options.connect;
    this.#keepaliveMs = options.keepaliveMs ?? KEEPALIVE_MS;
    this.#onKeepalive = options.onKeepalive ?? (() => {});
    this.#backoff = new Backoff(options.backoff);
  }

  get isOpen(): boolean {
    return this.#state.kind === 'open';
  }

  /**
   * Open the socket now, before any part needs it (the guest page while its join card is
   * read), so that joining costs one message instead of a TCP and WebSocket handshake. Says
   * nothing on it; if it closes before a part attaches, it is not reopened.
   */
  preconnect(): void {
    if (this.#state.kind === 'idle') this.#open();
  }

  /** Start using the connection: opened at once if open, else when it opens. */
  attach(part: SignalingPart): void {
    if (this.#parts.has(part)) return;
    this.#parts.add(part);
    if (this.#state.kind === 'open') part.opened();
    else if (this.#state.kind === 'idle') this.#open();
  }

  /** Stop using it; the socket is closed when no part is left. Frames sent before still go. */
  detach(part: SignalingPart): void {
    if (!this.#parts.delete(part) || this.#parts.size > 0) return;
    const state = this.#state;
    this.#state = { kind: 'idle' };
    switch (state.kind) {
      case 'waiting':
        clearTimeout(state.retry);
        return;
      case 'open':
        clearInterval(state.keepalive);
        this.#forget(state.socket).close(NORMAL_CLOSURE, 'done');
        return;
      case 'connecting':
        this.#forget(state.socket).close(NORMAL_CLOSURE, 'done');
        return;
      case 'idle':
        return;
    }
  }

  /** Write one message if the socket is open; false if it is not (nothing is queued here). */
  send(message: OutgoingMessage): boolean {
    if (this.#state.kind !== 'open' || this.#state.socket.readyState !== OPEN) return false;
    this.#state.socket.send(JSON.stringify(message));
    return true;
  }

  /**
   * A part got what it came for (joined, registered): the next loss starts again from the
   * shortest delay. Not on open alone: a server that accepts and at once closes would then be
   * hammered.
   */
  resetBackoff(): void {
    this.#backoff.reset();
  }

  #open(): void {
    let socket: WebSocketLike;
    try {
      socket = this.#connect(this.url);
    } catch {
      // A URL the browser refuses (or a blocked scheme): like a socket that never opened.
      this.#lost(ABNORMAL_CLOSURE);
      return;
    }
    this.#state = { kind: 'connecting', socket };
    socket.onopen = () => {
      if (this.#state.kind !== 'connecting' || this.#state.socket !== socket) return;
      const keepalive = setInterval(() => {
        this.send({ v: PROTOCOL_VERSION, type: 'ping' });
        this.#onKeepalive();
      }, this.#keepaliveMs);
      this.#state = { kind: 'open', socket, keepalive };
      for (const part of [...this.#parts]) part.opened();
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const message: IncomingMessage | null =
        parseServerMessage(ev.data) ?? parsePresenceServerMessage(ev.data);
      // Malformed frames are dropped: the server is a trust boundary.
      if (!message || message.type === 'pong') return;
      for (const part of [...this.#parts]) if (part.received(message)) return;
    };
    socket.onerror = () => {
      // A close event always follows; reconnecting is decided there.
    };
    socket.onclose = (ev) => {
      const state = this.#state;
      if ((state.kind !== 'connecting' && state.kind !== 'open') || state.socket !== socket) return;
      if (state.kind === 'open') clearInterval(state.keepalive);
      this.#forget(socket);
      this.#lost(ev.code);
    };
  }

  /** The socket is gone: tell the parts, then retry after a backoff if any still want it. */
  #lost(code: number): void {
    this.#state = { kind: 'idle' };
    for (const part of [...this.#parts]) part.closed(code);
    // A part may have attached again (and so reopened) or detached everything meanwhile.
    if (this.#state.kind !== 'idle' || this.#parts.size === 0) return;
    const retry = setTimeout(() => {
      if (this.#state.kind !== 'waiting' || this.#state.retry !== retry) return;
      this.#state = { kind: 'idle' };
      this.#open();
    }, this.#backoff.next());
    this.#state = { kind: 'waiting', retry };
  }

  #forget(socket: WebSocketLike): WebSocketLike {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
    return socket;
  }
}
