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
import { cleanDisplayName } from '../protocol/peer-call.ts';
import {
  CONTACT_MESSAGE_TYPES,
  type ContactMessage,
  ContactMessageSchema,
  type ContactOffer,
} from '../protocol/peer-contact.ts';
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
}

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

  const send = (peer: PeerState, message: ContactMessage) => {
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
          setText(text, `${name} is now in your contacts.`);
          parts.push(text);
          break;
        case 'known':
          setText(text, peer.note || `${name} is in your contacts.`);
          parts.push(text);
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
    };
    peers.get(link.peerId)?.row.remove();
    peers.set(link.peerId, peer);
    const detach = link.route(CONTACT_MESSAGE_TYPES, (raw) => {
      const message = parseContact(raw);
      if (message) onMessage(peer, message);
    });
    detachers.set(link.peerId, detach);
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
