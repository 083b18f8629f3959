/**
 * The service worker's presence socket: one per browser, held while **Available for calls**
 * is on (by default once there is a contact). On it the profile registers (a signed server
 * challenge), holds one inbox per contact, watches its contacts' inboxes (so the popup can
 * say who is available) and sends and receives rings (./rings.ts).
 *
 * A Chrome service worker stops when idle, but not while its WebSocket exchanges a message
 * every 30 s: the signaling client's 20 s keepalive keeps it running for as long as the socket
 * is held. When the worker was stopped anyway (browser start, an update, a crash, the person
 * or a test stopping it), `ensure()` brings the socket back: at every worker start, on
 * `runtime.onStartup`, on every watchdog alarm (30 s), and when the browser says the network
 * is back. A lost socket is reopened by the client itself (backoff up to 10 s).
 *
 * Per-call sockets stay separate (see docs/architecture.md, "The presence socket").
 */

import { PresenceRegistration, type Registered } from '../call/presence-registration.ts';
import { SignalingClient, type WebSocketLike } from '../call/signaling-client.ts';
import { serverClock } from '../identity/presence-client.ts';
import { keepBackgroundAlive } from '../platform/background.ts';
import type { Invite, RingAnswer } from '../protocol/presence.ts';
import { type Contact, listContacts } from './contacts.ts';
import { profileIdentity, signWithIdentity } from './identity.ts';
import { popupsChanged } from './popup-updates.ts';
import { loadSettings } from './settings.ts';

export type PresenceStatus = 'off' | 'connecting' | 'online';

export interface RingHandlers {
  ring(invite: Invite): void;
  ringStatus(callId: string, status: 'ringing' | 'offline'): void;
  ringAnswer(callId: string, answer: RingAnswer): void;
}

interface Held {
  server: string;
  /** What was last sent, so the 30 s watchdog sends nothing when nothing changed. */
  tags: string;
  watch: string;
  client: SignalingClient;
  registration: PresenceRegistration;
  now: () => number;
}

class PresenceHost {
  #held: Held | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #handlers: RingHandlers | null = null;

  setRingHandlers(handlers: RingHandlers): void {
    this.#handlers = handlers;
  }

  get status(): PresenceStatus {
    if (this.#held === null) return 'off';
    return this.#held.registration.registered ? 'online' : 'connecting';
  }

  /** Is this contact's inbox (our outbox for them) online? */
  isOnline(contact: Contact): boolean {
    return this.#held?.registration.online.has(contact.outbox) ?? false;
  }

  /** The registration to ring on, once registered; with the server's clock. */
  get registered(): { registration: PresenceRegistration; now: () => number } | null {
    const held = this.#held;
    return held?.registration.registered ? { registration: held.registration, now: held.now } : null;
  }

  /**
   * Hold the socket or let it go, as the settings and contacts say now, and register the
   * current inboxes and watch list. Serialised: calls from the alarm, a popup change and a
   * worker start may overlap.
   */
  ensure(): Promise<void> {
    const next = this.#queue.then(
      () => this.#ensure(),
      () => this.#ensure(),
    );
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #ensure(): Promise<void> {
    const [settings, contacts] = await Promise.all([loadSettings(), listContacts()]);
    const available = settings.available ?? contacts.length > 0;
    if (!available) {
      this.#stop();
      return;
    }
    if (this.#held !== null && this.#held.server !== settings.server) this.#stop();
    const reachable = contacts.filter((c) => !c.blocked);
    const tags = reachable.map((c) => c.inbox.tag);
    const watch = reachable.map((c) => c.outbox);
    if (this.#held === null) {
      const identity = await profileIdentity();
      const client = new SignalingClient({
        server: settings.server,
        connect: (url) => new WebSocket(url) as unknown as WebSocketLike,
        onKeepalive: keepBackgroundAlive,
      });
      const registration = new PresenceRegistration(client, {
        server: settings.server,
        identity: { publicKey: identity.publicKey, sign: signWithIdentity },
        mailboxTags: tags,
        watch,
      });
      const held: Held = {
        server: settings.server,
        tags: tags.join(),
        watch: watch.join(),
        client,
        registration,
        now: () => Date.now(),
      };
      registration.on('registered', (r: Registered) => {
        held.now = serverClock(r.now);
      });
      // What the popup shows: who is available, and whether we are (./popup-updates.ts).
      registration.on('online', () => popupsChanged());
      registration.on('registered', () => popupsChanged());
      registration.on('error', () => popupsChanged());
      registration.on('ring', (invite) => this.#handlers?.ring(invite));
      registration.on('ringStatus', (callId, status) => this.#handlers?.ringStatus(callId, status));
      registration.on('ringAnswer', (callId, answer) => this.#handlers?.ringAnswer(callId, answer));
      this.#held = held;
      registration.start();
      return;
    }
    const held = this.#held;
    if (held.tags !== tags.join()) {
      held.tags = tags.join();
      held.registration.setMailboxTags(tags);
    }
    if (held.watch !== watch.join()) {
      held.watch = watch.join();
      held.registration.setWatch(watch);
    }
  }

  #stop(): void {
    this.#held?.registration.stop();
    this.#held = null;
    popupsChanged();
  }
}

export const presence = new PresenceHost();
