/**
 * One person's side of **Save contact** and **Verify** (src/protocol/peer-contact.ts,
 * src/protocol/peer-identity.ts) over their PeerLink, without the DOM: contact-panel.ts shows
 * what this holds and calls it when a button is pressed.
 *
 * Save contact: each offer carries the sender's key signed together with this call's DTLS
 * fingerprints (src/identity/binding.ts), checked here against the fingerprints of our own
 * connection, so a server that swapped certificates (or keys) is caught. Verify: the SAS
 * exchange of src/identity/sas.ts, bound to the same fingerprints.
 *
 * The link outlives a connection (src/call/peer-link.ts), and a replaced connection (an
 * overlay re-mounted, a connection lost and made again) has other fingerprints. So:
 *   - `contact-hello` and `contact-not-now` said while the link is paused wait and go out on
 *     the next connection (`sendOrHold`); `contact-hello` goes again on every new connection
 *     (the other side may be a new document that never heard it);
 *   - an offer is signed for the connection it goes out on: made while paused, it waits for
 *     the next one; if the connection changes while the worker signs, it is signed again;
 *   - an SAS exchange belongs to one connection: when the link pauses or a new connection
 *     attaches, it is dropped (its codes taken down, its late steps ignored) and, if the person
 *     here pressed Verify and has not decided, started again on the new connection. Codes or
 *     messages from two connections are never mixed, which would show a false "did not match"
 *     and end the call.
 */

import * as v from 'valibot';
import type { ControlMessage, PeerLink } from '../call/peer-link.ts';
import { type ContactBinding, verifyContactBinding } from '../identity/binding.ts';
import { type Sas, SasExchange, type SasStep } from '../identity/sas.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';
import {
  CONTACT_MESSAGE_TYPES,
  type ContactMessage,
  ContactMessageSchema,
  type ContactOffer,
} from '../protocol/peer-contact.ts';
import { parseSasMessage, SAS_MESSAGE_TYPES, type SasMessage } from '../protocol/peer-identity.ts';

/** What the extension gives the panel (over its port to the service worker). */
export interface ContactIdentity {
  selfKey(): Promise<string>;
  /** Sign our side of the binding; `nonce` is our half of the pair secret. */
  sign(binding: ContactBinding): Promise<{ key: string; sig: string; nonce: string }>;
  /** Both agreed: save them (the worker derives the pair secret from both nonces). */
  save(contact: { key: string; name: string; ownNonce: string; theirNonce: string }): Promise<boolean>;
  /** Is this key a contact already? */
  lookup(key: string): Promise<{ name: string; verified: boolean } | null>;
  /** The person compared the SAS: they match (verified) or not. */
  verified(key: string, match: boolean): Promise<boolean>;
}

export interface ContactExchangeOptions {
  /** Binds the exchange to this call (the room id, which both sides know). */
  callId: string;
  /** Our signaling id (the signer's peer id in the binding). */
  selfId(): string | null;
  /** Our display name, sent with our offer. */
  localName: string;
  /** Null on the guest page (no extension, no key): it never offers. */
  identity: ContactIdentity | null;
  /** End the call with a plain warning (the security codes did not match). */
  endCall(message: string): void;
  /** Something shown changed: draw it again. */
  changed(): void;
}

export const SAS_MISMATCH_TEXT =
  'The security codes did not match, so the call was ended: someone may have been listening in. Call again and compare the codes once more, or meet in person.';

export type ContactPhase =
  | 'idle'
  /** We offered; waiting for them. */
  | 'asking'
  /** They offered; waiting for the person here. */
  | 'asked'
  | 'saving'
  | 'saved'
  | 'known';

function parseContact(raw: ControlMessage): ContactMessage | null {
  const result = v.safeParse(ContactMessageSchema, raw);
  return result.success ? result.output : null;
}

/** How often an offer is signed again because the connection changed while it was signed. */
const MAX_SIGNINGS = 3;

/** One SAS exchange and the connection it belongs to (the link's attachment count then). */
interface RunningSas {
  exchange: SasExchange;
  attachment: number;
}

export class ContactExchange {
  /** Their identity key, once their `contact-hello` came (only Parley extension users send one). */
  theirKey: string | null = null;
  phase: ContactPhase = 'idle';
  /** A sentence that replaces the phase's usual one, or ''. */
  note = '';
  /** The security codes to compare, while they are shown. */
  sasShown: Sas | null = null;
  verified = false;

  #ownNonce: string | null = null;
  #theirOffer: ContactOffer | null = null;
  #sas: RunningSas | null = null;
  /** The person here pressed Verify and has not decided: a new connection compares again. */
  #verifying = false;
  readonly #unroute: Array<() => void>;

  constructor(
    readonly link: PeerLink,
    private readonly options: ContactExchangeOptions,
  ) {
    this.#unroute = [
      link.route(CONTACT_MESSAGE_TYPES, (raw) => {
        const message = parseContact(raw);
        if (message) this.#onMessage(message);
      }),
      link.route(SAS_MESSAGE_TYPES, (raw) => {
        const message = parseSasMessage(raw);
        if (message) void this.#onSas(message);
      }),
      link.onState((state) => this.#onLinkState(state)),
    ];
    void this.#hello();
  }

  /** Our key, to them (a side that has not heard it ignores every other contact message). */
  async #hello(): Promise<void> {
    const key = await this.options.identity?.selfKey().catch(() => null);
    if (key) this.link.sendOrHold({ t: 'contact-hello', key });
  }

  #onLinkState(state: 'paused' | 'open' | 'closed'): void {
    if (state === 'closed') return;
    // Paused, or a new connection: an SAS exchange of the one before is over.
    if (this.#sas !== null && (state === 'paused' || this.#sas.attachment !== this.link.attachments))
      this.#abandonSas();
    if (state !== 'open' || this.link.attachments < 2) return;
    // Our key first: a new overlay on their side needs it before any SAS message.
    void this.#hello().then(() => {
      if (this.#verifying && this.#sas === null) return this.verify();
    });
  }

  #abandonSas(): void {
    this.#sas = null;
    this.sasShown = null;
    const name = this.theirName();
    this.note = this.#verifying
      ? `The connection to ${name} is being made again: the security codes will be compared on the new one.`
      : `The connection to ${name} was made again, so the security codes start over. Press Verify to compare new ones.`;
    this.#changed();
  }

  /** Their display name, cleaned. */
  theirName(): string {
    return cleanDisplayName(this.link.remoteName());
  }

  /** Stop listening (the person left, or the panel goes). */
  close(): void {
    for (const unroute of this.#unroute) unroute();
  }

  #changed(): void {
    this.options.changed();
  }

  #binding(signer: 'self' | 'peer', peerId: string): ContactBinding | null {
    const d = this.link.current()?.descriptions?.();
    if (!d || d.local === '' || d.remote === '') return null;
    const { callId } = this.options;
    return signer === 'self'
      ? { callId, signerPeerId: peerId, signerSdp: d.local, otherSdp: d.remote }
      : { callId, signerPeerId: peerId, signerSdp: d.remote, otherSdp: d.local };
  }

  /** **Save contact**: our offer (or our agreement to theirs); saved once both agreed. */
  async save(): Promise<void> {
    const identity = this.options.identity;
    const selfId = this.options.selfId();
    if (identity === null || selfId === null || this.theirKey === null) return;
    // No descriptions to bind to (while paused the next connection will have them).
    if (this.link.state === 'open' && this.#binding('self', selfId) === null) return;
    const reply = this.phase === 'asked';
    this.phase = reply ? 'saving' : 'asking';
    this.#changed();
    let sent: boolean;
    try {
      sent = await this.#sendOffer(identity, reply);
    } catch {
      this.phase = 'idle';
      this.note = 'Parley could not use your identity key. Try again.';
      this.#changed();
      return;
    }
    if (!sent) {
      if (this.link.state === 'closed') return;
      this.phase = 'idle';
      this.note = `Parley could not send your contact details to ${this.theirName()}. Try again.`;
      this.#changed();
      return;
    }
    if (this.#theirOffer !== null) await this.#finish();
  }

  /**
   * Sign our offer for the connection it goes out on, and send it there: once the link is
   * open (it waits while paused), signed again if the connection changed while the worker
   * signed. False if the link closed, or the connection changed MAX_SIGNINGS times.
   */
  async #sendOffer(identity: ContactIdentity, reply: boolean): Promise<boolean> {
    for (let signing = 0; signing < MAX_SIGNINGS; signing++) {
      if (!(await this.#whenOpen())) return false;
      const attachment = this.link.attachments;
      const selfId = this.options.selfId();
      const ours = selfId === null ? null : this.#binding('self', selfId);
      if (selfId === null || ours === null) return false;
      const signed = await identity.sign(ours);
      if (this.link.state !== 'open' || this.link.attachments !== attachment) continue;
      this.#ownNonce = signed.nonce;
      this.link.send({
        t: 'contact-offer',
        name: this.options.localName,
        key: signed.key,
        nonce: signed.nonce,
        peerId: selfId,
        sig: signed.sig,
        reply,
      } satisfies ContactMessage);
      return true;
    }
    return false;
  }

  /** True once the link is open (now, or after a pause); false if it closes for good. */
  #whenOpen(): Promise<boolean> {
    if (this.link.state !== 'paused') return Promise.resolve(this.link.state === 'open');
    return new Promise((resolve) => {
      const off = this.link.onState((state) => {
        if (state === 'paused') return;
        off();
        resolve(state === 'open');
      });
    });
  }

  /** **Not now** to their offer. */
  notNow(): void {
    this.#theirOffer = null;
    this.phase = 'idle';
    this.note = '';
    this.link.sendOrHold({ t: 'contact-not-now' } satisfies ContactMessage);
    this.#changed();
  }

  async #finish(): Promise<void> {
    const offer = this.#theirOffer;
    const identity = this.options.identity;
    if (identity === null || offer === null || this.#ownNonce === null) return;
    this.phase = 'saving';
    this.#changed();
    const ok = await identity
      .save({
        key: offer.key,
        name: cleanDisplayName(offer.name, this.theirName()),
        ownNonce: this.#ownNonce,
        theirNonce: offer.nonce,
      })
      .catch(() => false);
    this.#theirOffer = null;
    this.#ownNonce = null;
    this.phase = ok ? 'saved' : 'idle';
    this.note = ok ? '' : 'The contact could not be saved. Try again.';
    this.#changed();
  }

  async #onOffer(offer: ContactOffer): Promise<void> {
    if (this.options.identity === null || this.theirKey !== offer.key) return;
    const theirs = this.#binding('peer', offer.peerId);
    if (theirs === null || !(await verifyContactBinding(offer.key, theirs, offer.sig))) {
      this.phase = 'idle';
      this.note = `${this.theirName()}'s contact details do not match this call, so they were not saved.`;
      this.#changed();
      return;
    }
    this.#theirOffer = offer;
    if (this.phase === 'asking' || (offer.reply && this.#ownNonce !== null)) {
      await this.#finish();
      return;
    }
    if (offer.reply) return; // An agreement to an offer we never made.
    this.phase = 'asked';
    this.#changed();
  }

  #onMessage(message: ContactMessage): void {
    switch (message.t) {
      case 'contact-hello': {
        if (this.theirKey !== null) return;
        this.theirKey = message.key;
        this.#changed();
        this.options.identity
          ?.lookup(message.key)
          .then((known) => {
            if (known && this.phase === 'idle') {
              this.phase = 'known';
              this.verified = known.verified;
              this.#changed();
            }
          })
          .catch(() => {});
        return;
      }
      case 'contact-offer':
        void this.#onOffer(message);
        return;
      case 'contact-not-now':
        if (this.phase !== 'asking') return;
        this.phase = 'idle';
        this.#ownNonce = null;
        this.note = `${this.theirName()} did not save you as a contact.`;
        this.#changed();
        return;
    }
  }

  /** **They match** / **They don't match** (the latter ends the call). */
  async decide(match: boolean): Promise<void> {
    const identity = this.options.identity;
    if (identity === null || this.theirKey === null) return;
    this.sasShown = null;
    this.#verifying = false;
    if (match) {
      const ok = await identity.verified(this.theirKey, true).catch(() => false);
      this.verified = ok;
      this.note = ok ? '' : 'Parley could not mark the contact verified. Try again.';
      this.#sas = null;
      this.#changed();
      return;
    }
    await identity.verified(this.theirKey, false).catch(() => false);
    this.options.endCall(SAS_MISMATCH_TEXT);
  }

  /** The SAS exchange of the current connection, made when there is none yet. */
  async #sasFor(): Promise<RunningSas | null> {
    const attachment = this.link.attachments;
    if (this.#sas?.attachment === attachment) return this.#sas;
    const identity = this.options.identity;
    const theirKey = this.theirKey;
    if (identity === null || theirKey === null || this.link.state !== 'open') return null;
    const selfKey = await identity.selfKey();
    // The connection changed meanwhile (its own exchange comes with its messages), or a
    // message and a press of Verify both got here (one exchange per connection, not two).
    if (this.link.state !== 'open' || this.link.attachments !== attachment) return null;
    if (this.#sas?.attachment === attachment) return this.#sas;
    const d = this.link.current()?.descriptions?.();
    if (!d?.local || !d.remote) return null;
    const exchange = new SasExchange({
      callId: this.options.callId,
      self: { publicKey: selfKey, sdp: d.local },
      peer: { publicKey: theirKey, sdp: d.remote },
    });
    this.#sas = { exchange, attachment };
    return this.#sas;
  }

  /** What a step of `sas` says, unless that exchange was dropped meanwhile (its connection was replaced). */
  async #applySas(sas: RunningSas, step: SasStep): Promise<void> {
    if (this.#sas !== sas) return;
    for (const message of step.send) this.link.send(message);
    if (step.failure) {
      this.options.endCall(SAS_MISMATCH_TEXT);
      return;
    }
    if (step.sas) {
      this.sasShown = step.sas;
      this.#changed();
    }
  }

  /** **Verify**: compare security codes with them (again on the next connection if this one is replaced first). */
  async verify(): Promise<void> {
    if (this.options.identity === null || this.theirKey === null) return;
    this.#verifying = true;
    if (this.link.state === 'paused') {
      this.note = `The connection to ${this.theirName()} is being made again: the security codes will be compared on the new one.`;
      this.#changed();
      return;
    }
    const sas = await this.#sasFor().catch(() => null);
    if (!sas) return;
    this.note = `Comparing security codes with ${this.theirName()}…`;
    this.#changed();
    await this.#applySas(sas, await sas.exchange.start());
  }

  async #onSas(message: SasMessage): Promise<void> {
    const sas = await this.#sasFor().catch(() => null);
    if (!sas) return;
    await this.#applySas(sas, await sas.exchange.receive(message));
    if (this.sasShown) this.note = '';
    this.#changed();
  }
}
