/**
 * One person's side of **Save contact** and **Verify** (src/protocol/peer-contact.ts,
 * src/protocol/peer-identity.ts) over their PeerLink, without the DOM: contact-panel.ts shows
 * what this holds and calls it when a button is pressed.
 *
 * Save contact: each offer carries the sender's key signed together with this call's DTLS
 * fingerprints (src/identity/binding.ts), checked here against the fingerprints of our own
 * connection, so a server that swapped certificates (or keys) is caught. Verify: the SAS
 * exchange of src/identity/sas.ts, bound to the same fingerprints.
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
  #sas: SasExchange | null = null;
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
    ];
    options.identity
      ?.selfKey()
      .then((key) => this.#send({ t: 'contact-hello', key }))
      .catch(() => {});
  }

  /** Their display name, cleaned. */
  theirName(): string {
    return cleanDisplayName(this.link.remoteName());
  }

  /** Stop listening (the person left, or the panel goes). */
  close(): void {
    for (const unroute of this.#unroute) unroute();
  }

  #send(message: ContactMessage | SasMessage): void {
    this.link.send(message); // not sent while the link is paused or closed
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
    const ours = this.#binding('self', selfId);
    if (ours === null) return;
    const reply = this.phase === 'asked';
    this.phase = reply ? 'saving' : 'asking';
    this.#changed();
    try {
      const signed = await identity.sign(ours);
      this.#ownNonce = signed.nonce;
      this.#send({
        t: 'contact-offer',
        name: this.options.localName,
        key: signed.key,
        nonce: signed.nonce,
        peerId: selfId,
        sig: signed.sig,
        reply,
      });
      if (this.#theirOffer !== null) await this.#finish();
    } catch {
      this.phase = 'idle';
      this.note = 'Parley could not use your identity key. Try again.';
      this.#changed();
    }
  }

  /** **Not now** to their offer. */
  notNow(): void {
    this.#theirOffer = null;
    this.phase = 'idle';
    this.note = '';
    this.#send({ t: 'contact-not-now' });
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

  async #sasFor(): Promise<SasExchange | null> {
    if (this.#sas) return this.#sas;
    const identity = this.options.identity;
    const d = this.link.current()?.descriptions?.();
    if (identity === null || this.theirKey === null || !d || !d.local || !d.remote) return null;
    const selfKey = await identity.selfKey();
    this.#sas = new SasExchange({
      callId: this.options.callId,
      self: { publicKey: selfKey, sdp: d.local },
      peer: { publicKey: this.theirKey, sdp: d.remote },
    });
    return this.#sas;
  }

  async #applySas(step: SasStep): Promise<void> {
    for (const message of step.send) this.#send(message);
    if (step.failure) {
      this.options.endCall(SAS_MISMATCH_TEXT);
      return;
    }
    if (step.sas) {
      this.sasShown = step.sas;
      this.#changed();
    }
  }

  /** **Verify**: compare security codes with them. */
  async verify(): Promise<void> {
    const sas = await this.#sasFor().catch(() => null);
    if (!sas) return;
    this.note = `Comparing security codes with ${this.theirName()}…`;
    this.#changed();
    await this.#applySas(await sas.start());
  }

  async #onSas(message: SasMessage): Promise<void> {
    const sas = await this.#sasFor().catch(() => null);
    if (!sas) return;
    await this.#applySas(await sas.receive(message));
    if (this.sasShown) this.note = '';
    this.#changed();
  }
}
