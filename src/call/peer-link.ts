/**
 * One person's link for everything that rides on the call's data channels (call state, chat,
 * files, identity). It outlives one RTCPeerConnection: when the person's connection is
 * replaced (their overlay re-mounted, a connection lost and made again), the new connection's
 * channels re-attach to the same PeerLink, so the features keep their state and continue.
 *
 * It is also the control channel's one router: every message is parsed once here (JSON
 * objects with a string `t`) and handed to the feature that registered its type. Each
 * feature validates its own messages (valibot schemas in src/protocol: the peer is a trust
 * boundary). Types nobody registered are ignored (a newer peer's feature).
 *
 * States: `paused` (no connection yet, or it was lost: waiting for the next one), `open`,
 * `closed` (the person is gone; for good).
 */
import type { DataLink } from './data-link.ts';

export type PeerLinkState = 'paused' | 'open' | 'closed';

/** A control-channel message as routed: an object with a string `t`, not yet validated. */
export type ControlMessage = { readonly t: string } & Record<string, unknown>;

export interface RouteOptions {
  /**
   * Deliver while paused too (the call's own messages: a `hello` may come before our side
   * of the new connection has opened its files channel). Otherwise messages that arrive
   * while paused wait until the link opens.
   */
  whilePaused?: boolean;
}

/** Messages held while paused, at most (a peer that floods a paused link loses the rest). */
const MAX_HELD = 1024;

type Handler = (message: ControlMessage) => void;

export class PeerLink {
  #current: DataLink | null = null;
  #state: PeerLinkState = 'paused';
  #attachments = 0;
  readonly #routes = new Map<string, { handler: Handler; whilePaused: boolean }>();
  readonly #stateListeners = new Set<(state: PeerLinkState) => void>();
  #held: ControlMessage[] = [];
  /** Our messages kept while paused (sendOrHold), sent in order when the next connection attaches. */
  #outbox: ControlMessage[] = [];
  #malformed: () => void;

  constructor(
    /** The person's stable key (what the UI knows them by). */
    readonly peerId: string,
    /** Their display name (from their `hello`), or 'Guest'. */
    readonly remoteName: () => string,
    onMalformed: () => void = () => console.warn('Parley: ignored a malformed control message from the peer'),
  ) {
    this.#malformed = onMalformed;
  }

  get state(): PeerLinkState {
    return this.#state;
  }

  /** How many connections have attached so far (1 for the first; more after replacements). */
  get attachments(): number {
    return this.#attachments;
  }

  /** The current connection's channels, while open. */
  current(): DataLink | null {
    return this.#state === 'open' ? this.#current : null;
  }

  /** The current connection's binary `files` channel, while open. */
  get files(): RTCDataChannel | null {
    return this.current()?.files ?? null;
  }

  /** What one binary frame may carry on the current connection. */
  get maxMessageSize(): number {
    return this.#current?.maxMessageSize ?? 65_536;
  }

  /**
   * Register the handler of some message types (each type has one owner). Returns a function
   * that removes the registration.
   */
  route(types: Iterable<string>, handler: Handler, options: RouteOptions = {}): () => void {
    const mine = [...types];
    for (const t of mine) {
      if (this.#routes.has(t)) throw new Error(`The control message type "${t}" already has a handler.`);
    }
    const entry = { handler, whilePaused: options.whilePaused === true };
    for (const t of mine) this.#routes.set(t, entry);
    return () => {
      for (const t of mine) if (this.#routes.get(t) === entry) this.#routes.delete(t);
    };
  }

  /** Called with every state change. Returns unsubscribe. */
  onState(listener: (state: PeerLinkState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** Send one control message on the current connection. False when paused or closed (not sent). */
  send(message: ControlMessage): boolean {
    return this.#state === 'open' && this.#sendOnCurrent(message);
  }

  #sendOnCurrent(message: ControlMessage): boolean {
    const control = this.#current?.control;
    if (control?.readyState !== 'open') return false;
    try {
      control.send(JSON.stringify(message));
      return true;
    } catch {
      return false; // closing: the link pauses right after
    }
  }

  /**
   * Send one control message now if open; while paused (a connection being replaced), keep
   * it and send it, after the ones kept before it, as soon as the next connection attaches.
   * 'dropped' when the link is closed for good or MAX_HELD messages already wait.
   */
  sendOrHold(message: ControlMessage): 'sent' | 'held' | 'dropped' {
    if (this.#state === 'closed') return 'dropped';
    // Nothing may overtake what waits (the outbox is empty whenever the link is open).
    if (this.#outbox.length === 0 && this.send(message)) return 'sent';
    if (this.#outbox.length >= MAX_HELD) return 'dropped';
    this.#outbox.push(message);
    return 'held';
  }

  /** A control-channel message from the current connection: parsed once, routed by `t`. */
  deliver(data: unknown): void {
    if (this.#state === 'closed') return;
    const message = parseControl(data);
    if (!message) {
      this.#malformed();
      return;
    }
    const route = this.#routes.get(message.t);
    if (route?.whilePaused || this.#state === 'open') {
      route?.handler(message);
      return;
    }
    if (this.#held.length < MAX_HELD) this.#held.push(message);
  }

  /** A connection's channels are open: features continue on them. */
  attach(link: DataLink): void {
    if (this.#state === 'closed') return;
    this.#current = link;
    this.#attachments += 1;
    // What we said while paused goes first, in order (before listeners may send more).
    while (this.#outbox.length > 0 && this.#sendOnCurrent(this.#outbox[0] as ControlMessage))
      this.#outbox.shift();
    this.#setState('open');
    const held = this.#held;
    this.#held = [];
    for (const message of held) {
      if (this.#state !== 'open') break;
      this.#routes.get(message.t)?.handler(message);
    }
  }

  /** The connection's channels closed; a new connection may attach (features pause). */
  detach(): void {
    if (this.#state !== 'open') return;
    this.#current = null;
    this.#setState('paused');
  }

  /** The person is gone. True if a connection had ever attached. */
  close(): boolean {
    if (this.#state === 'closed') return false;
    this.#current = null;
    this.#held = [];
    this.#outbox = [];
    this.#setState('closed');
    return this.#attachments > 0;
  }

  #setState(state: PeerLinkState): void {
    this.#state = state;
    for (const listener of [...this.#stateListeners]) listener(state);
  }
}

/** A JSON object with a string `t`, or null for anything else (binary, not JSON, no type). */
export function parseControl(data: unknown): ControlMessage | null {
  if (typeof data !== 'string') return null;
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  if (typeof (raw as { t?: unknown }).t !== 'string') return null;
  return raw as ControlMessage;
}
