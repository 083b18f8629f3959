/**
 * **Save contact** in a call between two Parley extension users (src/protocol/peer-contact.ts).
 * Both must agree: the other side sees "Ana wants to save you as a contact" with **Save
 * contact** and **Not now**. Each offer carries the sender's key signed together with this
 * call's DTLS fingerprints (src/identity/binding.ts), checked here against the fingerprints of
 * our own connection, so a server that swapped certificates (or keys) is caught. Saving is the
 * service worker's (it holds the key and the contacts); this panel only shows and relays.
 *
 * A guest page (no extension, no key) mounts it without `identity`: it never offers, and when
 * the other side says it has Parley it says what installing Parley would add.
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
import type { PanelContext } from './panel-context.ts';
import { button, el, setText } from './ui/dom.ts';

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

export interface ContactPanelOptions {
  /** Binds the exchange to this call (the room id, which both sides know). */
  callId: string;
  /** Our signaling id (the signer's peer id in the binding). */
  selfId(): string | null;
  identity: ContactIdentity | null;
  /** End the call with a plain warning (the security codes did not match). */
  endCall(message: string): void;
}

export const SAS_MISMATCH_TEXT =
  'The security codes did not match, so the call was ended: someone may have been listening in. Call again and compare the codes once more, or meet in person.';

type Phase =
  | 'idle'
  /** We offered; waiting for them. */
  | 'asking'
  /** They offered; waiting for the person here. */
  | 'asked'
  | 'saving'
  | 'saved'
  | 'known';

interface PeerState {
  link: PeerLink;
  theirKey: string | null;
  phase: Phase;
  ownNonce: string | null;
  theirOffer: ContactOffer | null;
  note: string;
  row: HTMLElement;
  /** **Verify**: the SAS exchange with this contact, and what it shows. */
  sas: SasExchange | null;
  sasShown: Sas | null;
  verified: boolean;
}

function parseContact(raw: ControlMessage): ContactMessage | null {
  const result = v.safeParse(ContactMessageSchema, raw);
  return result.success ? result.output : null;
}

export function mountContactPanel(
  host: HTMLElement,
  ctx: Pick<PanelContext, 'localName' | 'onLink' | 'onLinkClosed'>,
  options: ContactPanelOptions,
): () => void {
  const peers = new Map<string, PeerState>();
  host.hidden = true;

  const send = (peer: PeerState, message: ContactMessage | SasMessage) => {
    peer.link.send(message); // not sent while the link is paused or closed
  };

  const theirName = (peer: PeerState) => cleanDisplayName(peer.link.remoteName());

  function render(peer: PeerState): void {
    const name = theirName(peer);
    const row = peer.row;
    const identity = options.identity;
    const parts: Array<Node | string> = [];
    const text = el('p', { class: 'parley-contact-text' });
    if (identity === null) {
      // The guest page: say what Parley would add, once the other side has it.
      if (peer.theirKey !== null) {
        setText(
          text,
          `${name} uses the Parley extension. With Parley installed you could save each other as contacts and call each other without a link.`,
        );
        parts.push(text);
      }
    } else if (peer.theirKey !== null) {
      const save = () => void saveContact(peer);
      switch (peer.phase) {
        case 'idle':
          setText(text, peer.note || `${name} also uses Parley.`);
          parts.push(text, button('Save contact', 'parley-btn parley-btn-primary', save));
          break;
        case 'asking':
          setText(text, `Waiting for ${name} to agree…`);
          parts.push(text);
          break;
        case 'asked':
          setText(text, `${name} wants to save you as a contact`);
          parts.push(
            text,
            button('Save contact', 'parley-btn parley-btn-primary', save),
            button('Not now', 'parley-btn', () => {
              peer.theirOffer = null;
              peer.phase = 'idle';
              peer.note = '';
              send(peer, { t: 'contact-not-now' });
              render(peer);
            }),
          );
          break;
        case 'saving':
          setText(text, 'Saving…');
          parts.push(text);
          break;
        case 'saved':
        case 'known':
          setText(
            text,
            peer.note ||
              (peer.verified
                ? `${name} is in your contacts, verified.`
                : peer.phase === 'saved'
                  ? `${name} is now in your contacts.`
                  : `${name} is in your contacts.`),
          );
          parts.push(text);
          if (peer.sasShown) parts.push(sasView(peer, peer.sasShown));
          else if (!peer.verified) parts.push(button('Verify', 'parley-btn', () => void startVerify(peer)));
          break;
      }
    }
    row.replaceChildren(...parts);
    row.hidden = parts.length === 0;
    host.hidden = [...peers.values()].every((p) => p.row.hidden);
  }

  function binding(peer: PeerState, signer: 'self' | 'peer', peerId: string): ContactBinding | null {
    const d = peer.link.current()?.descriptions?.();
    if (!d || d.local === '' || d.remote === '') return null;
    return signer === 'self'
      ? { callId: options.callId, signerPeerId: peerId, signerSdp: d.local, otherSdp: d.remote }
      : { callId: options.callId, signerPeerId: peerId, signerSdp: d.remote, otherSdp: d.local };
  }

  /** Our offer (or our agreement to theirs): sign, send, and save if they already agreed. */
  async function saveContact(peer: PeerState): Promise<void> {
    const identity = options.identity;
    const selfId = options.selfId();
    if (identity === null || selfId === null || peer.theirKey === null) return;
    const ours = binding(peer, 'self', selfId);
    if (ours === null) return;
    const reply = peer.phase === 'asked';
    peer.phase = reply ? 'saving' : 'asking';
    render(peer);
    try {
      const signed = await identity.sign(ours);
      peer.ownNonce = signed.nonce;
      send(peer, {
        t: 'contact-offer',
        name: ctx.localName,
        key: signed.key,
        nonce: signed.nonce,
        peerId: selfId,
        sig: signed.sig,
        reply,
      });
      if (peer.theirOffer !== null) await finish(peer);
    } catch {
      peer.phase = 'idle';
      peer.note = 'Parley could not use your identity key. Try again.';
      render(peer);
    }
  }

  async function finish(peer: PeerState): Promise<void> {
    const offer = peer.theirOffer;
    if (options.identity === null || offer === null || peer.ownNonce === null) return;
    peer.phase = 'saving';
    render(peer);
    const ok = await options.identity
      .save({
        key: offer.key,
        name: cleanDisplayName(offer.name, theirName(peer)),
        ownNonce: peer.ownNonce,
        theirNonce: offer.nonce,
      })
      .catch(() => false);
    peer.theirOffer = null;
    peer.ownNonce = null;
    peer.phase = ok ? 'saved' : 'idle';
    peer.note = ok ? '' : 'The contact could not be saved. Try again.';
    render(peer);
  }

  async function onOffer(peer: PeerState, offer: ContactOffer): Promise<void> {
    if (options.identity === null || peer.theirKey !== offer.key) return;
    const theirs = binding(peer, 'peer', offer.peerId);
    if (theirs === null || !(await verifyContactBinding(offer.key, theirs, offer.sig))) {
      peer.phase = 'idle';
      peer.note = `${theirName(peer)}'s contact details do not match this call, so they were not saved.`;
      render(peer);
      return;
    }
    peer.theirOffer = offer;
    if (peer.phase === 'asking' || (offer.reply && peer.ownNonce !== null)) {
      await finish(peer);
      return;
    }
    if (offer.reply) return; // An agreement to an offer we never made.
    peer.phase = 'asked';
    render(peer);
  }

  function onMessage(peer: PeerState, message: ContactMessage): void {
    switch (message.t) {
      case 'contact-hello': {
        if (peer.theirKey !== null) return;
        peer.theirKey = message.key;
        render(peer);
        options.identity
          ?.lookup(message.key)
          .then((known) => {
            if (known && peer.phase === 'idle') {
              peer.phase = 'known';
              peer.verified = known.verified;
              render(peer);
            }
          })
          .catch(() => {});
        return;
      }
      case 'contact-offer':
        void onOffer(peer, message);
        return;
      case 'contact-not-now':
        if (peer.phase !== 'asking') return;
        peer.phase = 'idle';
        peer.ownNonce = null;
        peer.note = `${theirName(peer)} did not save you as a contact.`;
        render(peer);
        return;
    }
  }

  function sasView(peer: PeerState, sas: Sas): HTMLElement {
    const name = theirName(peer);
    return el(
      'div',
      { class: 'parley-sas', role: 'group', 'aria-label': 'Security code' },
      el('span', {}, `Read these to ${name}; they must see the same:`),
      el(
        'span',
        { class: 'parley-sas-emoji', 'aria-label': sas.emoji.map((e) => e.name).join(', ') },
        sas.emoji.map((e) => e.emoji).join(' '),
      ),
      el('span', { class: 'parley-sas-names' }, sas.emoji.map((e) => e.name).join(' · ')),
      el('span', { class: 'parley-sas-digits', translate: 'no' }, sas.digits.join(' ')),
      el(
        'div',
        { class: 'parley-contact-row' },
        button('They match', 'parley-btn parley-btn-primary', () => void decide(peer, true)),
        button("They don't match", 'parley-btn', () => void decide(peer, false)),
      ),
    );
  }

  async function decide(peer: PeerState, match: boolean): Promise<void> {
    if (options.identity === null || peer.theirKey === null) return;
    peer.sasShown = null;
    if (match) {
      const ok = await options.identity.verified(peer.theirKey, true).catch(() => false);
      peer.verified = ok;
      peer.note = ok ? '' : 'Parley could not mark the contact verified. Try again.';
      peer.sas = null;
      render(peer);
      return;
    }
    await options.identity.verified(peer.theirKey, false).catch(() => false);
    options.endCall(SAS_MISMATCH_TEXT);
  }

  async function sasFor(peer: PeerState): Promise<SasExchange | null> {
    if (peer.sas) return peer.sas;
    const d = peer.link.current()?.descriptions?.();
    if (options.identity === null || peer.theirKey === null || !d || !d.local || !d.remote) return null;
    const selfKey = await options.identity.selfKey();
    peer.sas = new SasExchange({
      callId: options.callId,
      self: { publicKey: selfKey, sdp: d.local },
      peer: { publicKey: peer.theirKey, sdp: d.remote },
    });
    return peer.sas;
  }

  async function applySas(peer: PeerState, step: SasStep): Promise<void> {
    for (const message of step.send) send(peer, message);
    if (step.failure) {
      options.endCall(SAS_MISMATCH_TEXT);
      return;
    }
    if (step.sas) {
      peer.sasShown = step.sas;
      render(peer);
    }
  }

  async function startVerify(peer: PeerState): Promise<void> {
    const sas = await sasFor(peer).catch(() => null);
    if (!sas) return;
    peer.note = `Comparing security codes with ${theirName(peer)}…`;
    render(peer);
    await applySas(peer, await sas.start());
  }

  async function onSas(peer: PeerState, message: SasMessage): Promise<void> {
    const sas = await sasFor(peer).catch(() => null);
    if (!sas) return;
    await applySas(peer, await sas.receive(message));
    if (peer.sasShown) peer.note = '';
    render(peer);
  }

  const detachers = new Map<string, () => void>();
  const offLink = ctx.onLink((link) => {
    detachers.get(link.peerId)?.();
    const row = el('div', { class: 'parley-contact-row' });
    row.hidden = true;
    host.append(row);
    const peer: PeerState = {
      link,
      theirKey: null,
      phase: 'idle',
      ownNonce: null,
      theirOffer: null,
      note: '',
      row,
      sas: null,
      sasShown: null,
      verified: false,
    };
    peers.get(link.peerId)?.row.remove();
    peers.set(link.peerId, peer);
    const detach = link.route(CONTACT_MESSAGE_TYPES, (raw) => {
      const message = parseContact(raw);
      if (message) onMessage(peer, message);
    });
    const detachSas = link.route(SAS_MESSAGE_TYPES, (raw) => {
      const message = parseSasMessage(raw);
      if (message) void onSas(peer, message);
    });
    detachers.set(link.peerId, () => {
      detach();
      detachSas();
    });
    options.identity
      ?.selfKey()
      .then((key) => send(peer, { t: 'contact-hello', key }))
      .catch(() => {});
  });
  const offClosed = ctx.onLinkClosed((peerId) => {
    detachers.get(peerId)?.();
    detachers.delete(peerId);
    peers.get(peerId)?.row.remove();
    peers.delete(peerId);
    host.hidden = [...peers.values()].every((p) => p.row.hidden);
  });
  return () => {
    offLink();
    offClosed();
    for (const detach of detachers.values()) detach();
  };
}
