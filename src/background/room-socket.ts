/**
 * One signaling WebSocket for one call, held by the service worker (it cannot hold an
 * RTCPeerConnection, but it can hold a socket). Speaks src/protocol/signaling.ts and validates
 * every frame with parseServerMessage.
 *
 * - Keepalive: an application `ping` every 20 s. Chrome ≥116 keeps a worker alive while a
 *   WebSocket exchanges a message at least every 30 s; Firefox's event page also needs an
 *   extension API call (keepBackgroundAlive, src/platform/).
 * - Reconnect with jittered exponential backoff, sending `resume` from the last `joined` so
 *   the server gives us back the same peer id and the other side keeps its call.
 * - Errors that retrying cannot fix (room full, version) stop the reconnecting.
 */
import { keepBackgroundAlive } from '../platform/background.ts';
import { signalingSocketUrl } from '../protocol/link.ts';
import {
  type ClientMessage,
  type JoinedMessage,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
} from '../protocol/signaling.ts';

export const KEEPALIVE_MS = 20_000;
const BACKOFF_BASE_MS = 300;
const BACKOFF_MAX_MS = 10_000;
const FATAL_CODES = new Set(['room-full', 'unsupported-version']);

export type RoomSocketStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface RoomSocketEvents {
  joined(message: JoinedMessage): void;
  message(message: Exclude<ServerMessage, JoinedMessage>): void;
  status(status: RoomSocketStatus): void;
}

export class RoomSocket {
  #socket: WebSocket | null = null;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #keepalive: ReturnType<typeof setInterval> | null = null;
  #stopped = false;
  #joined = false;
  /** Peers currently in the room (besides us), so a re-attached overlay can be told. */
  readonly peers = new Set<string>();
  lastJoined: JoinedMessage | null = null;

  constructor(
    readonly server: string,
    readonly room: string,
    private resume: { peerId: string; token: string } | undefined,
    private readonly events: RoomSocketEvents,
  ) {}

  get isJoined(): boolean {
    return this.#joined;
  }

  get isStopped(): boolean {
    return this.#stopped;
  }

  connect(): void {
    if (this.#stopped || this.#socket) return;
    this.events.status(this.#attempt === 0 && !this.resume ? 'connecting' : 'reconnecting');
    let socket: WebSocket;
    try {
      socket = new WebSocket(signalingSocketUrl(this.server));
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    socket.onopen = () => {
      this.#write({
        v: PROTOCOL_VERSION,
        type: 'join',
        room: this.room,
        ...(this.resume ? { resume: this.resume } : {}),
      });
      this.#keepalive = setInterval(() => {
        this.#write({ v: PROTOCOL_VERSION, type: 'ping' });
        keepBackgroundAlive();
      }, KEEPALIVE_MS);
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      const message = parseServerMessage(event.data);
      if (!message) return; // Malformed frames are dropped: the server is a trust boundary.
      this.#onMessage(message);
    };
    socket.onclose = () => {
      this.#clearSocket();
      if (this.#stopped) return;
      this.#scheduleReconnect();
    };
  }

  send(to: string, data: unknown): boolean {
    if (!this.#joined) return false;
    return this.#write({ v: PROTOCOL_VERSION, type: 'signal', to, data });
  }

  /** Park a message with the server for the next joiner (null takes it back); only when joined. */
  park(data: unknown): boolean {
    if (!this.#joined) return false;
    return this.#write({ v: PROTOCOL_VERSION, type: 'park', data });
  }

  /** Leave the room and stop for good. */
  leave(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#write({ v: PROTOCOL_VERSION, type: 'leave' });
    this.#socket?.close(1000);
    this.#clearSocket();
    if (this.#timer) clearTimeout(this.#timer);
    this.events.status('closed');
  }

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'joined':
        this.#joined = true;
        this.#attempt = 0;
        this.resume = { peerId: message.peerId, token: message.resumeToken };
        this.lastJoined = message;
        this.peers.clear();
        for (const peer of message.peers) this.peers.add(peer);
        this.events.status('open');
        this.events.joined(message);
        return;
      case 'peer-joined':
        this.peers.add(message.peerId);
        break;
      case 'peer-left':
        this.peers.delete(message.peerId);
        break;
      case 'pong':
        return;
      case 'error':
        if (FATAL_CODES.has(message.code)) {
          this.events.message(message);
          this.leave();
          return;
        }
        // A stale resume token: join afresh (a new peer id; the other side renegotiates).
        if (!this.#joined && this.resume && message.code === 'bad-message') this.resume = undefined;
        break;
    }
    this.events.message(message);
  }

  #write(message: ClientMessage): boolean {
    if (this.#socket?.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }

  #clearSocket(): void {
    if (this.#keepalive) clearInterval(this.#keepalive);
    this.#keepalive = null;
    if (this.#socket) {
      this.#socket.onopen = this.#socket.onmessage = this.#socket.onclose = null;
    }
    this.#socket = null;
    this.#joined = false;
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#timer) return;
    this.events.status('reconnecting');
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.#attempt);
    this.#attempt += 1;
    // Full jitter: many clients reconnecting after a server restart do not arrive together.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.connect();
    }, delay);
  }
}
