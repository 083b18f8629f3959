/**
 * The one client of the signaling server (src/protocol/signaling.ts), used by the guest page
 * and by the extension's service worker: one WebSocket, kept open while anything needs it.
 *
 * It owns the connection, not what is said on it: every frame is validated here, a keepalive
 * `ping` goes out every 20 s (Chrome ≥116 keeps a service worker alive while its WebSocket
 * exchanges a message at least every 30 s), and a lost socket is reopened with jittered
 * exponential backoff for as long as a part is attached.
 *
 * A socket can die without closing: a laptop that moved to another network keeps a WebSocket
 * whose TCP connection is bound to an address it no longer has; the server's answers go to
 * the old network and the browser never hears a close. So a socket that is silent for 10 s
 * after a ping, or for 2 s after a ping sent because something suggests the network changed
 * (`probe`: a `navigator.connection` change, or the call's media stopping), is dropped and
 * reopened like a closed one; so is one that does not open within 10 s. The browser's
 * `online` event (the device was offline, as between two Wi-Fi networks) reopens the socket
 * at once without waiting for an answer: the old one is most likely bound to an address that
 * is gone, and a reopened socket costs one handshake and a resume. Any frame from the server counts as an answer. What to say on a (re)opened socket
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
  /** A socket silent this long after a keepalive ping is dead (default 10 s). */
  pongTimeoutMs?: number;
  /** A socket silent this long after a `probe` ping is dead (default 2 s). */
  probeTimeoutMs?: number;
  /** A socket not open after this long is given up and tried again (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Calls `changed` when the device's network may have changed ('online': it was offline and
   * is back, 'change': something about it changed); returns the unsubscribe. Default: the
   * global `online` event and `navigator.connection`'s `change`, where they exist (a page, a
   * service worker); nothing in Node.
   */
  watchNetwork?: (changed: (kind: NetworkChange) => void) => () => void;
}

/** What the browser said about the device's network (see `watchGlobalNetwork`). */
export type NetworkChange = 'online' | 'change';

/** The global `online` event and `navigator.connection` `change`, where the runtime has them. */
export function watchGlobalNetwork(changed: (kind: NetworkChange) => void): () => void {
  type Events = {
    addEventListener?(t: string, f: () => void): void;
    removeEventListener?(t: string, f: () => void): void;
  };
  const scope = globalThis as unknown as Events & { navigator?: { connection?: Events } };
  const connection = scope.navigator?.connection;
  const online = () => changed('online');
  const change = () => changed('change');
  scope.addEventListener?.('online', online);
  connection?.addEventListener?.('change', change);
  return () => {
    scope.removeEventListener?.('online', online);
    connection?.removeEventListener?.('change', change);
  };
}

/** Set only by the Firefox end-to-end build (vite.firefox.config.ts), never in a shipped one. */
declare const __PARLEY_E2E_KEEPALIVE_MS__: number | undefined;
/**
 * 20 s: under Chrome's 30 s service-worker idle limit and Firefox's 30 s event-page one. The
 * Firefox end-to-end build shortens it, so that a test can hold the event page's idle timeout
 * (a profile pref) a few seconds above it instead of waiting out 30 s.
 */
export const KEEPALIVE_MS =
  typeof __PARLEY_E2E_KEEPALIVE_MS__ === 'number' ? __PARLEY_E2E_KEEPALIVE_MS__ : 20_000;
export const PONG_TIMEOUT_MS = 10_000;
export const PROBE_TIMEOUT_MS = 2_000;
export const CONNECT_TIMEOUT_MS = 10_000;
/** How we close a socket no part needs any more. */
const NORMAL_CLOSURE = 1000;
/** What a socket that failed before opening reports. */
const ABNORMAL_CLOSURE = 1006;
const OPEN = 1;

/** The connection's one state: at most one socket or one pending retry at a time. */
type ConnectionState =
  | { kind: 'idle' }
  | { kind: 'connecting'; socket: WebSocketLike; timeout: ReturnType<typeof setTimeout> }
  | {
      kind: 'open';
      socket: WebSocketLike;
      keepalive: ReturnType<typeof setInterval>;
      /** Armed by a ping; cleared by any frame; when it fires the socket is dead. */
      silence: { timer: ReturnType<typeof setTimeout>; due: number } | null;
    }
  | { kind: 'waiting'; retry: ReturnType<typeof setTimeout> };

export class SignalingClient {
  readonly url: string;
  readonly #connect: (url: string) => WebSocketLike;
  readonly #keepaliveMs: number;
  readonly #onKeepalive: () => void;
  readonly #backoff: Backoff;
  readonly #parts = new Set<SignalingPart>();
  readonly #pongTimeoutMs: number;
  readonly #probeTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #watchNetwork: (changed: (kind: NetworkChange) => void) => () => void;
  #unwatchNetwork: (() => void) | null = null;
  #state: ConnectionState = { kind: 'idle' };

  constructor(options: SignalingClientOptions) {
    this.url = signalingSocketUrl(options.server);
    this.#connect = options.connect;
    this.#keepaliveMs = options.keepaliveMs ?? KEEPALIVE_MS;
    this.#onKeepalive = options.onKeepalive ?? (() => {});
    this.#backoff = new Backoff(options.backoff);
    this.#pongTimeoutMs = options.pongTimeoutMs ?? PONG_TIMEOUT_MS;
    this.#probeTimeoutMs = options.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.#watchNetwork = options.watchNetwork ?? watchGlobalNetwork;
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
    this.#unwatchNetwork ??= this.#watchNetwork((kind) => this.#networkChanged(kind));
    if (this.#state.kind === 'open') part.opened();
    else if (this.#state.kind === 'idle') this.#open();
  }

  /** Stop using it; the socket is closed when no part is left. Frames sent before still go. */
  detach(part: SignalingPart): void {
    if (!this.#parts.delete(part) || this.#parts.size > 0) return;
    this.#unwatchNetwork?.();
    this.#unwatchNetwork = null;
    const state = this.#state;
    this.#state = { kind: 'idle' };
    switch (state.kind) {
      case 'waiting':
        clearTimeout(state.retry);
        return;
      case 'open':
        this.#stopTimers(state);
        this.#forget(state.socket).close(NORMAL_CLOSURE, 'done');
        return;
      case 'connecting':
        clearTimeout(state.timeout);
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

  /**
   * Something suggests the socket may be dead although it did not close (the network
   * changed, the call's media stopped): ping, and drop and reopen it unless the server
   * answers within 2 s. A socket waiting to be reopened is reopened now.
   */
  probe(): void {
    const state = this.#state;
    if (state.kind === 'open') {
      this.#ping(this.#probeTimeoutMs);
    } else if (state.kind === 'waiting') {
      clearTimeout(state.retry);
      this.#state = { kind: 'idle' };
      this.#open();
    }
  }

  /**
   * Drop the socket (open or opening) and open a new one now: the device came back online,
   * most likely on another network, where the old socket cannot be.
   */
  reconnect(): void {
    const state = this.#state;
    if (state.kind === 'open' || state.kind === 'connecting') {
      if (state.kind === 'open') this.#stopTimers(state);
      else clearTimeout(state.timeout);
      console.info('Parley: the network changed; reconnecting to the signaling server');
      this.#forget(state.socket).close(NORMAL_CLOSURE, 'network changed');
      this.#lost(ABNORMAL_CLOSURE);
    }
    if (this.#state.kind === 'waiting') this.probe();
  }

  #networkChanged(kind: NetworkChange): void {
    if (this.#parts.size === 0) return;
    if (kind === 'online') this.reconnect();
    else this.probe();
  }

  /** Send a ping; unless a frame comes within `timeoutMs` (or an earlier deadline), the socket is dead. */
  #ping(timeoutMs: number): void {
    const state = this.#state;
    if (state.kind !== 'open') return;
    this.send({ v: PROTOCOL_VERSION, type: 'ping' });
    const due = Date.now() + timeoutMs;
    if (state.silence && state.silence.due <= due) return;
    if (state.silence) clearTimeout(state.silence.timer);
    const socket = state.socket;
    const timer = setTimeout(() => {
      const now = this.#state;
      if (now.kind !== 'open' || now.socket !== socket) return;
      // No answer: a half-open socket (see the top of this file). Drop it, reopen.
      console.info('Parley: the signaling server did not answer; reconnecting');
      this.#stopTimers(now);
      this.#forget(socket).close(NORMAL_CLOSURE, 'no answer');
      this.#lost(ABNORMAL_CLOSURE);
    }, timeoutMs);
    state.silence = { timer, due };
  }

  #stopTimers(state: Extract<ConnectionState, { kind: 'open' }>): void {
    clearInterval(state.keepalive);
    if (state.silence) clearTimeout(state.silence.timer);
    state.silence = null;
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
    const timeout = setTimeout(() => {
      if (this.#state.kind !== 'connecting' || this.#state.socket !== socket) return;
      this.#forget(socket).close(NORMAL_CLOSURE, 'too slow');
      this.#lost(ABNORMAL_CLOSURE);
    }, this.#connectTimeoutMs);
    this.#state = { kind: 'connecting', socket, timeout };
    socket.onopen = () => {
      if (this.#state.kind !== 'connecting' || this.#state.socket !== socket) return;
      clearTimeout(this.#state.timeout);
      const keepalive = setInterval(() => {
        this.#ping(this.#pongTimeoutMs);
        this.#onKeepalive();
      }, this.#keepaliveMs);
      this.#state = { kind: 'open', socket, keepalive, silence: null };
      for (const part of [...this.#parts]) part.opened();
    };
    socket.onmessage = (ev) => {
      const state = this.#state;
      if (state.kind === 'open' && state.socket === socket && state.silence) {
        clearTimeout(state.silence.timer);
        state.silence = null;
      }
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
      if (state.kind === 'open') this.#stopTimers(state);
      else clearTimeout(state.timeout);
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
