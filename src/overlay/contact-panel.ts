/**
 * **Save contact** in a call between two Parley extension users (src/protocol/peer-contact.ts).
 * Both must agree: the other side sees "Ana wants to save you as a contact" with **Save
 * contact** and **Not now**; in a call with a contact, **Verify** compares security codes.
 * What is said and checked with each person is their ContactExchange (contact-exchange.ts);
 * saving is the service worker's (it holds the key and the contacts); this panel only shows.
 *
 * A guest page (no extension, no key) mounts it without `identity`: it never offers, and when
 * the other side says it has Parley it says what installing Parley would add.
 */

import type { PeerLink } from '../call/peer-link.ts';
import type { Sas } from '../identity/sas.ts';
import { ContactExchange, type ContactIdentity } from './contact-exchange.ts';
import type { PanelContext } from './panel-context.ts';
import { button, el, setText } from './ui/dom.ts';

export interface ContactPanelOptions {
  /** Binds the exchange to this call (the room id, which both sides know). */
  callId: string;
  /** Our signaling id (the signer's peer id in the binding). */
  selfId(): string | null;
  identity: ContactIdentity | null;
  /** End the call with a plain warning (the security codes did not match). */
  endCall(message: string): void;
}

interface PeerRow {
  exchange: ContactExchange;
  row: HTMLElement;
}

export function mountContactPanel(
  host: HTMLElement,
  ctx: Pick<PanelContext, 'localName' | 'onLink' | 'onLinkClosed'>,
  options: ContactPanelOptions,
): () => void {
  const peers = new Map<string, PeerRow>();
  host.hidden = true;

  function render(peer: PeerRow): void {
    const { exchange, row } = peer;
    const name = exchange.theirName();
    const parts: Array<Node | string> = [];
    const text = el('p', { class: 'parley-contact-text' });
    if (options.identity === null) {
      // The guest page: say what Parley would add, once the other side has it.
      if (exchange.theirKey !== null) {
        setText(
          text,
          `${name} uses the Parley extension. With Parley installed you could save each other as contacts and call each other without a link.`,
        );
        parts.push(text);
      }
    } else if (exchange.theirKey !== null) {
      const save = () => void exchange.save();
      switch (exchange.phase) {
        case 'idle':
          setText(text, exchange.note || `${name} also uses Parley.`);
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
            button('Not now', 'parley-btn', () => exchange.notNow()),
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
            exchange.note ||
              (exchange.verified
                ? `${name} is in your contacts, verified.`
                : exchange.phase === 'saved'
                  ? `${name} is now in your contacts.`
                  : `${name} is in your contacts.`),
          );
          parts.push(text);
          if (exchange.sasShown) parts.push(sasView(exchange, exchange.sasShown));
          else if (!exchange.verified)
            parts.push(button('Verify', 'parley-btn', () => void exchange.verify()));
          break;
      }
    }
    row.replaceChildren(...parts);
    row.hidden = parts.length === 0;
    host.hidden = [...peers.values()].every((p) => p.row.hidden);
  }

  function sasView(exchange: ContactExchange, sas: Sas): HTMLElement {
    return el(
      'div',
      { class: 'parley-sas', role: 'group', 'aria-label': 'Security code' },
      el('span', {}, `Read these to ${exchange.theirName()}; they must see the same:`),
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
        button('They match', 'parley-btn parley-btn-primary', () => void exchange.decide(true)),
        button("They don't match", 'parley-btn', () => void exchange.decide(false)),
      ),
    );
  }

  const offLink = ctx.onLink((link: PeerLink) => {
    const before = peers.get(link.peerId);
    before?.exchange.close();
    before?.row.remove();
    const row = el('div', { class: 'parley-contact-row' });
    row.hidden = true;
    host.append(row);
    const exchange: ContactExchange = new ContactExchange(link, {
      callId: options.callId,
      selfId: options.selfId,
      localName: ctx.localName,
      identity: options.identity,
      endCall: options.endCall,
      changed: () => render({ exchange, row }),
    });
    peers.set(link.peerId, { exchange, row });
  });
  const offClosed = ctx.onLinkClosed((peerId) => {
    const peer = peers.get(peerId);
    peer?.exchange.close();
    peer?.row.remove();
    peers.delete(peerId);
    host.hidden = [...peers.values()].every((p) => p.row.hidden);
  });
  return () => {
    offLink();
    offClosed();
    for (const peer of peers.values()) peer.exchange.close();
  };
}
