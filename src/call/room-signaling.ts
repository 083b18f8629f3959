/**
 * A room on the signaling server, as a part of the one `SignalingClient`: `join` (with the
 * resume ticket of the last `joined` after a reconnect, so our peer id stays the same and the
 * others keep their call), signals queued while not joined, `park`, `leave`. Implements the
 * call engine's `Signaling`; the guest page uses it directly (./websocket-signaling.ts) and the
 * extension's service worker holds one per live call and relays it to the overlay over a
 * runtime port (src/background/live-call.ts).
 *
 * - `joined` is turned into `JoinedInfo` once, here; `joinedInfo` gives it back with the peers
 *   as they are now (for an overlay that attaches later).
 * - `room-full`, `unsupported-version` and a socket closed as `replaced` (a newer connection
 *   resumed our peer id) are final: reported, then the room is left for good.
 * - A resume ticket the server rejects as malformed (stored by an older version) is dropped
 *   and the room joined afresh on the same socket: a new peer id, the other side renegotiates.
 *   A well-formed but expired one needs nothing: the server then joins us afresh itself.
 */
import { CLOSE_CODES, PROTOCOL_VERSION, type ServerMessage } from '../protocol/signaling.ts';
import { Emitter } from './emitter.ts';
import { PRESENCE_ERRORS } from './presence-registration.ts';
import type { JoinedInfo, Signaling, SignalingEvents, SignalingStatus } from './signaling.ts';
import type { IncomingMessage, SignalingClient, SignalingPart } from './signaling-client.ts';

/** Reclaims our peer id after a reconnect (from the last `joined`). */
export interface ResumeTicket {
  peerId: string;
  token: string;
}

export interface RoomSignalingOptions {
  /** A ticket kept from an earlier `joined` (the service worker keeps it across restarts). */
  resume?: ResumeTicket;
  /** Signals queued while not joined; beyond this the oldest are dropped. Default 200. */
  maxQueued?: number;
  /**
   * `resume` is the ticket of another page of this call that went away (a reloaded guest
   * page): the first `joined` that gives its peer id back says `rejoin` (the others know us
   * and will not offer; see JoinedInfo.rejoin).
   */
  rejoin?: boolean;
}

const FINAL_ERRORS = new Set(['room-full', 'unsupported-version', 'bad-key']);

type RoomState =
  | { kind: 'idle' }
  /** Waiting for `joined`; `resumed`: the join we sent on this socket carried our ticket. */
  | { kind: 'joining'; room: string; resumed: boolean }
  | { kind: 'joined'; room: string; info: JoinedInfo }
  | { kind: 'left' };

export class RoomSignaling implements Signaling, SignalingPart {
  readonly #events = new Emitter<SignalingEvents>();
  readonly #client: SignalingClient;
  readonly #maxQueued: number;
  readonly #peers = new Set<string>();
  #state: RoomState = { kind: 'idle' };
  #resume: ResumeTicket | null;
  /** A team room's key, sent with every join of it (also after a reconnect). */
  #key: string | undefined;
  #queue: { to: string; data: unknown }[] = [];
  #pendingJoin: { resolve: (info: JoinedInfo) => void; reject: (err: Error) => void } | null = null;
  #unreachableReported = false;
  #status: SignalingStatus = 'closed';
  /** The peer id a rejoining page was in the room under, until the first `joined`. */
  #rejoining: string | null;

  constructor(client: SignalingClient, options: RoomSignalingOptions = {}) {
    this.#client = client;
    this.#resume = options.resume ?? null;
    this.#rejoining = options.rejoin ? (options.resume?.peerId ?? null) : null;
    this.#maxQueued = options.maxQueued ?? 200;
  }

  get status(): SignalingStatus {
    return this.#status;
  }

  /** Our peer id once joined (or the one a resume ticket will reclaim). */
  get peerId(): string | null {
    return this.#resume?.peerId ?? null;
  }

  /** The ticket from the last `joined`: keep it to rejoin as the same peer after a restart. */
  get resumeTicket(): ResumeTicket | null {
    return this.#resume;
  }

  get isJoined(): boolean {
    return this.#state.kind === 'joined';
  }

  get isLeft(): boolean {
    return this.#state.kind === 'left';
  }

  /** The other peers in the room now. */
  get peers(): ReadonlySet<string> {
    return this.#peers;
  }

  /** The last `joined`, with the peers as they are now; null while not joined. */
  get joinedInfo(): JoinedInfo | null {
    return this.#state.kind === 'joined' ? { ...this.#state.info, peers: [...this.#peers] } : null;
  }

  /** Open the socket before joining (see SignalingClient.preconnect). */
  preconnect(): void {
    if (this.#state.kind === 'idle') this.#client.preconnect();
  }

  join(room: string, key?: string): Promise<JoinedInfo> {
    if (this.#state.kind === 'left') return Promise.reject(new Error('Left the call.'));
    if (this.#state.kind !== 'idle') return Promise.reject(new Error('Already joined a room.'));
    this.#key = key;
    this.#state = { kind: 'joining', room, resumed: false };
    return new Promise<JoinedInfo>((resolve, reject) => {
      this.#pendingJoin = { resolve, reject };
      // A new page coming back to its place is connecting, not reconnecting (no notice).
      this.#setStatus(this.#resume && this.#rejoining === null ? 'reconnecting' : 'connecting');
      this.#client.attach(this);
    });
  }

  send(to: string, data: unknown): void {
    if (this.#state.kind === 'left') return;
    if (this.#state.kind === 'joined' && this.#client.send({ v: PROTOCOL_VERSION, type: 'signal', to, data }))
      return;
    this.#queue.push({ to, data });
    if (this.#queue.length > this.#maxQueued) this.#queue.shift();
  }

  /** Dropped when not joined at the moment: the engine parks again on its next `joined`. */
  park(data: unknown): void {
    if (this.#state.kind === 'joined') this.#client.send({ v: PROTOCOL_VERSION, type: 'park', data });
  }

  on<K extends keyof SignalingEvents>(event: K, handler: SignalingEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** See Signaling.checkConnection: a ping that must be answered within 2 s. */
  checkConnection(): void {
    if (this.#state.kind === 'joined' || this.#state.kind === 'joining') this.#client.probe();
  }

  /** Leave the room and stop for good. */
  leave(): void {
    if (this.#state.kind === 'left') return;
    const wasIn = this.#state.kind !== 'idle';
    this.#state = { kind: 'left' };
    if (wasIn) this.#client.send({ v: PROTOCOL_VERSION, type: 'leave' });
    this.#client.detach(this);
    this.#queue = [];
    this.#peers.clear();
    this.#pendingJoin?.reject(new Error('Left the call.'));
    this.#pendingJoin = null;
    this.#setStatus('closed');
  }

  // ---------- SignalingPart ----------

  opened(): void {
    if (this.#state.kind === 'joining') this.#sendJoin(this.#state.room);
  }

  received(message: IncomingMessage): boolean {
    switch (message.type) {
      case 'joined':
        this.#onJoined(message);
        return true;
      case 'peer-joined':
        this.#peers.add(message.peerId);
        this.#events.emit('peerJoined', message.peerId, message.parked === true);
        return true;
      case 'peer-left':
        this.#peers.delete(message.peerId);
        this.#events.emit('peerLeft', message.peerId);
        return true;
      case 'signal':
        this.#events.emit('signal', message.from, message.data);
        return true;
      case 'error':
        // Presence errors are the presence part's; a room that is not joining or joined has
        // nothing to do with any error.
        if (PRESENCE_ERRORS.has(message.code) || this.#state.kind === 'idle' || this.#state.kind === 'left')
          return false;
        this.#onError(message.code, message.message);
        return true;
      default:
        // Presence and rings are other parts' business.
        return false;
    }
  }

  closed(code: number): void {
    const state = this.#state;
    if (state.kind !== 'joining' && state.kind !== 'joined') return;
    if (code === CLOSE_CODES.replaced) {
      this.#fail('replaced', 'This call was opened somewhere else.');
      return;
    }
    this.#state = { kind: 'joining', room: state.room, resumed: false };
    if (!this.#resume && !this.#unreachableReported) {
      this.#unreachableReported = true;
      this.#events.emit('error', 'unreachable', 'Cannot reach the call server. Trying again…');
    }
    this.#setStatus(this.#resume ? 'reconnecting' : 'connecting');
  }

  // ---------- internals ----------

  #onJoined(message: Extract<ServerMessage, { type: 'joined' }>): void {
    if (this.#state.kind !== 'joining') return;
    const info: JoinedInfo = {
      room: message.room,
      peerId: message.peerId,
      peers: message.peers,
      iceServers: message.iceServers,
      capacity: message.capacity,
      canPark: message.features?.includes('park') ?? false,
      ...(this.#rejoining !== null && this.#rejoining === message.peerId ? { rejoin: true } : {}),
    };
    this.#rejoining = null;
    this.#state = { kind: 'joined', room: this.#state.room, info };
    this.#resume = { peerId: message.peerId, token: message.resumeToken };
    this.#unreachableReported = false;
    this.#peers.clear();
    for (const peer of message.peers) this.#peers.add(peer);
    this.#client.resetBackoff();
    this.#setStatus('open');
    const queued = this.#queue;
    this.#queue = [];
    for (const { to, data } of queued) this.send(to, data);
    const pending = this.#pendingJoin;
    this.#pendingJoin = null;
    pending?.resolve(info);
    this.#events.emit('joined', info);
  }

  #onError(code: string, message: string): void {
    if (FINAL_ERRORS.has(code)) {
      this.#fail(code, message);
      return;
    }
    const state = this.#state;
    if (code === 'bad-message' && state.kind === 'joining' && state.resumed) {
      // Our stored ticket no longer fits the protocol: join afresh, a new peer id.
      this.#resume = null;
      this.#sendJoin(state.room);
      return;
    }
    this.#events.emit('error', code, message);
  }

  /** A final error: tell the listeners, stop for good. */
  #fail(code: string, message: string): void {
    this.#events.emit('error', code, message);
    this.#pendingJoin?.reject(Object.assign(new Error(message), { code }));
    this.#pendingJoin = null;
    this.leave();
  }

  #sendJoin(room: string): void {
    const resume = this.#resume;
    this.#state = { kind: 'joining', room, resumed: resume !== null };
    const key = this.#key;
    this.#client.send({
      v: PROTOCOL_VERSION,
      type: 'join',
      room,
      ...(resume ? { resume } : {}),
      ...(key === undefined ? {} : { key }),
    });
  }

  #setStatus(status: SignalingStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#events.emit('status', status);
  }
}
