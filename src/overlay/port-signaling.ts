/**
 * `Signaling` for the extension overlay: the room's signaling flows over a runtime Port to
 * the service worker, which holds the WebSocket. The worker may be stopped at any time
 * (Chrome stops idle workers; tests stop it on purpose): the port then disconnects, and this
 * class reconnects and re-attaches with the per-call session key. The worker reopens the
 * socket with the server's resume token, so our peer id stays the same and `joined` fires
 * again, as the Signaling interface promises after every reconnect.
 */
import { Emitter } from '../call/emitter.ts';
import type { JoinedInfo, Signaling, SignalingEvents, SignalingStatus } from '../call/signaling.ts';
import {
  type BgToOverlay,
  BgToOverlaySchema,
  type CallInfo,
  OVERLAY_PORT_NAME,
  type OverlayToBg,
  parse,
} from '../messaging/messages.ts';
import { connectToBackground, type Port } from '../messaging/runtime.ts';

/** Messages for the overlay itself rather than the call engine. */
export type OverlayControl = Extract<
  BgToOverlay,
  { type: 'hang-up' | 'detach' | 'permission' | 'denied' | 'identity-reply' | 'ring-ended' }
>;

const RECONNECT_DELAYS_MS = [50, 200, 500, 1000, 2000];
const MAX_QUEUED = 200;

export class PortSignaling implements Signaling {
  readonly #events = new Emitter<SignalingEvents>();
  #port: Port | null;
  #attached = true;
  #stopped = false;
  #attempt = 0;
  #queue: OverlayToBg[] = [];
  #pendingJoin: { resolve: (info: JoinedInfo) => void; reject: (error: Error) => void } | null = null;
  #status: SignalingStatus = 'connecting';

  constructor(
    port: Port,
    private readonly call: CallInfo,
    private readonly onControl: (message: OverlayControl) => void,
  ) {
    this.#port = port;
    this.#listen(port);
  }

  get status(): SignalingStatus {
    return this.#status;
  }

  join(room: string): Promise<JoinedInfo> {
    if (room !== this.call.room) return Promise.reject(new Error('This overlay belongs to another room.'));
    return new Promise((resolve, reject) => {
      this.#pendingJoin = { resolve, reject };
      this.post({ type: 'join' });
    });
  }

  send(to: string, data: unknown): void {
    if (this.#stopped) return;
    this.post({ type: 'send', to, data });
  }

  park(data: unknown): void {
    if (this.#stopped) return;
    this.post({ type: 'park', data });
  }

  on<K extends keyof SignalingEvents>(event: K, handler: SignalingEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  leave(): void {
    if (this.#stopped) return;
    this.post({ type: 'leave' });
    this.#stopped = true;
    this.#pendingJoin?.reject(new Error('Left the call.'));
    this.#pendingJoin = null;
    this.#setStatus('closed');
  }

  /** Send any overlay → background message; queued while the port re-attaches. */
  post(message: OverlayToBg): void {
    if (this.#port && this.#attached) {
      try {
        this.#port.postMessage(message);
        return;
      } catch {
        // The port died between the disconnect event and now: queue and reconnect.
      }
    }
    if (this.#queue.length < MAX_QUEUED) this.#queue.push(message);
  }

  /** Stop reconnecting and drop the port (the overlay is going away). */
  close(): void {
    this.#stopped = true;
    this.#attached = false;
    this.#port?.disconnect();
    this.#port = null;
  }

  #listen(port: Port): void {
    port.onMessage.addListener((raw: unknown) => {
      const message = parse(BgToOverlaySchema, raw);
      if (message) this.#onMessage(message);
    });
    port.onDisconnect.addListener(() => {
      if (this.#port !== port) return;
      this.#port = null;
      this.#attached = false;
      if (this.#stopped && this.#queue.length === 0) return;
      this.#setStatus('reconnecting');
      this.#reconnect();
    });
  }

  #reconnect(): void {
    const delay = RECONNECT_DELAYS_MS[Math.min(this.#attempt, RECONNECT_DELAYS_MS.length - 1)] ?? 2000;
    this.#attempt += 1;
    setTimeout(() => {
      let port: Port;
      try {
        port = connectToBackground(OVERLAY_PORT_NAME);
      } catch {
        // The extension was reloaded or removed: this page can no longer reach it.
        this.#events.emit(
          'error',
          'extension-gone',
          'Parley was updated or turned off. Start the call again.',
        );
        this.#setStatus('closed');
        return;
      }
      this.#port = port;
      this.#listen(port);
      port.postMessage({ type: 'resume', callId: this.call.callId, sessionKey: this.call.sessionKey });
    }, delay);
  }

  #onMessage(message: BgToOverlay): void {
    switch (message.type) {
      case 'resumed': {
        this.#attached = true;
        this.#attempt = 0;
        const queued = this.#queue;
        this.#queue = [];
        for (const m of queued) this.post(m);
        return;
      }
      case 'joined': {
        const info: JoinedInfo = { ...message.info };
        this.#pendingJoin?.resolve(info);
        this.#pendingJoin = null;
        if (!this.#stopped) this.#events.emit('joined', info);
        return;
      }
      case 'peer-joined':
        if (!this.#stopped) this.#events.emit('peerJoined', message.peerId, message.parked === true);
        return;
      case 'peer-left':
        if (!this.#stopped) this.#events.emit('peerLeft', message.peerId);
        return;
      case 'signal':
        if (!this.#stopped) this.#events.emit('signal', message.from, message.data);
        return;
      case 'status':
        if (!this.#stopped) this.#setStatus(message.status);
        return;
      case 'error':
        if (
          message.code === 'room-full' ||
          message.code === 'unsupported-version' ||
          message.code === 'bad-key'
        ) {
          this.#pendingJoin?.reject(new Error(message.message));
          this.#pendingJoin = null;
        }
        this.#events.emit('error', message.code, message.message);
        return;
      case 'denied':
        this.#stopped = true;
        this.#setStatus('closed');
        this.onControl(message);
        return;
      case 'hang-up':
      case 'detach':
      case 'permission':
      case 'identity-reply':
      case 'ring-ended':
        this.onControl(message);
        return;
      case 'call':
        return;
    }
  }

  #setStatus(status: SignalingStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#events.emit('status', status);
  }
}
