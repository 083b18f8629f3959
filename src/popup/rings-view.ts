/**
 * The popup's ring cards ("Ana is calling", **Accept**, **Decline**), missed calls, and rings
 * refused because a contact's key changed. Names come from the contact list (first set by the
 * peer): rendered as text only.
 */
import type { MissedView, RefusedView, RingView } from '../messaging/messages.ts';

let shownRings = '';
let shownMissed = '';
let shownRefused = '';

/** What the popup says about a ring refused because the contact's key changed. */
export function refusedText(name: string): string {
  return `${name}'s key changed: Parley refused a call signed by a different key than the one you saved. If ${name} reinstalled Parley, call ${name} with a link, save ${name} again and compare the security codes with Verify.`;
}

export function renderRefused(section: HTMLElement, list: HTMLElement, refused: RefusedView[]): void {
  const signature = JSON.stringify(refused);
  if (signature === shownRefused) return;
  shownRefused = signature;
  section.hidden = refused.length === 0;
  list.replaceChildren(
    ...refused.map((ring) => {
      const item = document.createElement('li');
      item.textContent = refusedText(ring.name);
      return item;
    }),
  );
}

export function renderRings(
  section: HTMLElement,
  rings: RingView[],
  answer: (callId: string, choice: 'accept' | 'decline') => Promise<void>,
): void {
  const signature = JSON.stringify(rings);
  if (signature === shownRings) return;
  shownRings = signature;
  section.hidden = rings.length === 0;
  section.replaceChildren(
    ...rings.map((ring) => {
      const card = document.createElement('div');
      card.className = 'ring-card';
      card.setAttribute('role', 'group');
      card.setAttribute('aria-label', `${ring.name} is calling`);
      const text = document.createElement('p');
      text.textContent = `${ring.name} is calling${ring.media === 'audio' ? ' (audio)' : ''}`;
      const row = document.createElement('div');
      row.className = 'row';
      const accept = document.createElement('button');
      accept.type = 'button';
      accept.className = 'primary';
      accept.textContent = 'Accept';
      accept.addEventListener('click', () => void answer(ring.callId, 'accept'));
      const decline = document.createElement('button');
      decline.type = 'button';
      decline.className = 'danger';
      decline.textContent = 'Decline';
      decline.addEventListener('click', () => void answer(ring.callId, 'decline'));
      row.append(accept, decline);
      card.append(text, row);
      return card;
    }),
  );
}

export function renderMissed(section: HTMLElement, list: HTMLElement, missed: MissedView[]): void {
  const signature = JSON.stringify(missed);
  if (signature === shownMissed) return;
  shownMissed = signature;
  section.hidden = missed.length === 0;
  list.replaceChildren(
    ...missed.map((call) => {
      const item = document.createElement('li');
      const when = new Date(call.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      item.textContent = `${call.name}, ${call.media === 'audio' ? 'audio' : 'video'} call at ${when}`;
      return item;
    }),
  );
}
