/**
 * Presence and rings as a part of the one `SignalingClient` (docs/protocol.md "Presence and
 * rings"): on every (re)opened socket it asks for a fresh challenge, signs it with the
 * identity key (`parley-presence-v1|<server origin>|<nonce>|<key>`), registers, and lists its
 * mailboxes; rings and ring answers then flow on the same socket, beside any room.
 *
 * It signs through the injected `sign` (the service worker's non-extractable key in
 * IndexedDB, src/identity/), so it holds no key and touches no DOM or chrome API. It checks
 * nothing a ring says: the callee's InviteChecker (src/identity/invite.ts) does that. The
 * signed origin is src/identity/presence-client.ts's `presenceOrigin`, as the server expects.
 */
import { presenceOrigin } from '../identity/presence-client.ts';
import {
  type Invite,
  presenceProofText,
  type RingAnswer,
  type RingOutMessage,
} from '../protocol/presence.ts';
import { PROTOCOL_VERSION } from '../protocol/signaling.ts';
import { Emitter } from './emitter.ts';
import type { IncomingMessage, SignalingClient, SignalingPart } from './signaling-client.ts';

export interface PresenceIdentity {
  /** The raw Ed25519 public key, base64url. */
  readonly publicKey: string;
  /** Signs UTF-8 text with the identity's private key (base64url signature). */
  sign(text: string): Promise<string>;
}

export interface PresenceOptions {
  /** The server as the person configured it, e.g. `https://parley.example`: its origin is signed. */
  server: string;
  identity: PresenceIdentity;
  /** Mailbox tags to hold (src/identity/mailbox.ts), one per contact. */
  mailboxTags?: string[];
  /** Contacts' mailboxes (where we ring them) whose presence we want to know. */
  watch?: string[];
}

export interface Registered {
  key: string;
  /** The mailbox ids the server derived from our key and tags. */
  mailboxes: string[];
  /** The server's clock (ms since the epoch), for invite expiries. */
  now: number;
}

export interface PresenceEvents {
  /** After registering (on every socket) and after every mailbox update. */
  registered: (registered: Registered) => void;
  /** A ring for one of our mailboxes, unchecked: check it before showing anything. */
  ring: (invite: Invite) => void;
  /** Our ring reached an online mailbox (`ringing`) or nobody holds it (`offline`). */
  ringStatus: (callId: string, status: 'ringing' | 'offline') => void;
  ringAnswer: (callId: string, answer: RingAnswer) => void;
  /** Which watched mailboxes are online: the full set, after every `watch` and every change. */
  online: (mailboxes: ReadonlySet<string>) => void;
  /** A presence error from the server (`stale-challenge`, `bad-signature`, `bad-invite`…). */
  error: (code: string, message: string) => void;
}

/** Error codes about presence and rings (the room part leaves them to this one). */
export const PRESENCE_ERRORS: ReadonlySet<string> = new Set([
  'stale-challenge',
  'bad-signature',
  'not-registered',
  'bad-invite',
  'unknown-ring',
]);
/** Registering failed this many times in a row on one socket: stop asking on it. */
const MAX_REGISTER_ATTEMPTS = 3;

type PresenceState =
  | { kind: 'stopped' }
  /** Attached, waiting for the socket to open. */
  | { kind: 'waiting' }
  /** Asked for a challenge (`attempt` on this socket), or signing and registering with it. */
  | { kind: 'registering'; attempt: number }
  | { kind: 'registered'; registered: Registered };

export class PresenceRegistration implements SignalingPart {
  readonly #events = new Emitter<PresenceEvents>();
  readonly #client: SignalingClient;
  readonly #identity: PresenceIdentity;
  readonly #origin: string;
  #tags: string[];
  #watch: string[];
  readonly #online = new Set<string>();
  #state: PresenceState = { kind: 'stopped' };
  /** Bumped on every open and close: a signature made for an older socket is thrown away. */
  #socketEpoch = 0;

  constructor(client: SignalingClient, options: PresenceOptions) {
    this.#client = client;
    this.#identity = options.identity;
    this.#origin = presenceOrigin(options.server);
    this.#tags = [...(options.mailboxTags ?? [])];
    this.#watch = [...(options.watch ?? [])];
  }

  /** Watched mailboxes online now (empty while not registered). */
  get online(): ReadonlySet<string> {
    return this.#online;
  }

  get registered(): Registered | null {
    return this.#state.kind === 'registered' ? this.#state.registered : null;
  }

  on<K extends keyof PresenceEvents>(event: K, handler: PresenceEvents[K]): () => void {
    return this.#events.on(event, handler);
  }

  /** Be available: hold the socket (reopened after any loss) and register on it. */
  start(): void {
    if (this.#state.kind !== 'stopped') return;
    this.#state = { kind: 'waiting' };
    this.#client.attach(this);
  }

  /** Go offline: let go of the socket (closed if no room uses it either). */
  stop(): void {
    if (this.#state.kind === 'stopped') return;
    this.#state = { kind: 'stopped' };
    this.#socketEpoch++;
    this.#client.detach(this);
  }

  /** The full set of mailboxes to hold (replaces the previous set; empty: reachable by none). */
  setMailboxTags(tags: string[]): void {
    this.#tags = [...tags];
    if (this.#state.kind === 'registered') this.#sendMailboxes();
  }

  /** The full set of contacts' mailboxes to watch (replaces the previous set). */
  setWatch(mailboxes: string[]): void {
    this.#watch = [...mailboxes];
    if (this.#state.kind === 'registered') this.#sendWatch();
  }

  /** Ring a contact's mailbox with an invite we signed; false if not registered right now. */
  ring(invite: Invite): boolean {
    if (this.#state.kind !== 'registered') return false;
    return this.#client.send({ v: PROTOCOL_VERSION, type: 'ring', invite } satisfies RingOutMessage);
  }

  /** End a ring, ours (`cancel`) or one for us (`accept`, `decline`, `busy`, `no-answer`). */
  answer(callId: string, answer: RingAnswer): boolean {
    if (this.#state.kind !== 'registered') return false;
    return this.#client.send({ v: PROTOCOL_VERSION, type: 'ring-answer', callId, answer });
  }

  // ---------- SignalingPart ----------

  opened(): void {
    if (this.#state.kind === 'stopped') return;
    this.#socketEpoch++;
    this.#askChallenge(1);
  }

  received(message: IncomingMessage): boolean {
    if (this.#state.kind === 'stopped') return false;
    switch (message.type) {
      case 'challenge':
        void this.#register(message.nonce);
        return true;
      case 'registered': {
        const registered: Registered = { key: message.key, mailboxes: message.mailboxes, now: message.now };
        const first = this.#state.kind !== 'registered';
        this.#state = { kind: 'registered', registered };
        if (first) {
          this.#client.resetBackoff();
          this.#sendWatch();
          // Registering answers with no mailboxes; list ours (the answer is another `registered`).
          if (this.#tags.length > 0) {
            this.#sendMailboxes();
            return true;
          }
        }
        this.#events.emit('registered', registered);
        return true;
      }
      case 'ring':
        this.#events.emit('ring', message.invite);
        return true;
      case 'watching':
        this.#online.clear();
        for (const id of message.online) this.#online.add(id);
        this.#events.emit('online', this.#online);
        return true;
      case 'presence':
        if (message.online) this.#online.add(message.mailbox);
        else this.#online.delete(message.mailbox);
        this.#events.emit('online', this.#online);
        return true;
      case 'ring-status':
        this.#events.emit('ringStatus', message.callId, message.status);
        return true;
      case 'ring-answer':
        this.#events.emit('ringAnswer', message.callId, message.answer);
        return true;
      case 'error':
        if (!PRESENCE_ERRORS.has(message.code)) return false;
        this.#events.emit('error', message.code, message.message);
        // The challenge went stale or the proof did not verify: try again with a new one.
        if (
          this.#state.kind === 'registering' &&
          message.code !== 'bad-invite' &&
          message.code !== 'unknown-ring'
        )
          this.#askChallenge(this.#state.attempt + 1);
        return true;
      default:
        return false;
    }
  }

  closed(): void {
    if (this.#state.kind === 'stopped') return;
    this.#socketEpoch++;
    this.#state = { kind: 'waiting' };
    this.#online.clear();
    // Also when nobody was online: we are not registered any more, which is news too.
    this.#events.emit('online', this.#online);
  }

  // ---------- internals ----------

  #askChallenge(attempt: number): void {
    if (attempt > MAX_REGISTER_ATTEMPTS) {
      // The server keeps refusing our proof (wrong origin?): stay connected, unregistered.
      this.#state = { kind: 'waiting' };
      return;
    }
    this.#state = { kind: 'registering', attempt };
    this.#client.send({ v: PROTOCOL_VERSION, type: 'challenge' });
  }

  async #register(nonce: string): Promise<void> {
    if (this.#state.kind !== 'registering') return;
    const epoch = this.#socketEpoch;
    const key = this.#identity.publicKey;
    let signature: string;
    try {
      signature = await this.#identity.sign(presenceProofText(this.#origin, nonce, key));
    } catch {
      this.#events.emit('error', 'sign-failed', 'Parley could not use your identity key.');
      return;
    }
    // The socket changed while we signed: the next open asks for a new challenge.
    if (epoch !== this.#socketEpoch || this.#state.kind !== 'registering') return;
    this.#client.send({ v: PROTOCOL_VERSION, type: 'register', key, signature });
  }

  #sendWatch(): void {
    // An empty list is sent too: it clears what an earlier `watch` on this socket set.
    this.#client.send({ v: PROTOCOL_VERSION, type: 'watch', mailboxes: this.#watch });
  }

  #sendMailboxes(): void {
    this.#client.send({ v: PROTOCOL_VERSION, type: 'mailboxes', tags: this.#tags });
  }
}
