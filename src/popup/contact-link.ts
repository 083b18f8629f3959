/**
 * Contact links in the popup (src/background/contact-link.ts does the work):
 * - **Share my contact link** shows this profile's one-time link and copies it;
 * - on a tab showing someone's contact link (or a pasted one), **Add contact**;
 * - "Bo wants to add you as a contact" with **Add contact** / **Not now**;
 * - how our own request stands, in words.
 * Names come from links and from the other side: rendered as text only.
 */
import { keyFingerprint } from '../identity/fingerprint.ts';
import { askContactLink, type ContactLinkView } from '../messaging/contact-link-messages.ts';
import { el } from '../overlay/ui/dom.ts';
import { type ContactLink, parseContactLink } from '../protocol/contact-link.ts';

type Say = (text: string, isError?: boolean) => void;

let cards: HTMLElement;
let share: HTMLElement;
let say: Say = () => {};
/** The contact link the tab shows, if it is one. */
let tabLink: { text: string; link: ContactLink; fingerprint: string } | null = null;
let shown = '';

export function isContactLink(text: string): boolean {
  return parseContactLink(text) !== null;
}

export async function addContactLink(text: string): Promise<void> {
  const result = await askContactLink({ type: 'contact-link-add', link: text });
  if (!result.ok) say(result.error, true);
  await refreshContactLink();
}

async function answer(id: string, choice: 'accept' | 'not-now'): Promise<void> {
  const result = await askContactLink({ type: 'contact-link-answer', id, answer: choice });
  if (!result.ok) say(result.error, true);
  else say(choice === 'accept' ? 'Added. You can call each other now.' : 'Not added.');
  await refreshContactLink();
}

async function shareLink(): Promise<void> {
  const result = await askContactLink({ type: 'contact-link-share' });
  if (!result.ok) {
    say(result.error, true);
    return;
  }
  let copied = false;
  try {
    await navigator.clipboard.writeText(result.link);
    copied = true;
  } catch {
    // Shown below to copy by hand.
  }
  say(
    copied
      ? 'Contact link copied. Send it to one person: it works once.'
      : 'Copy your contact link below. Send it to one person: it works once.',
  );
  await refreshContactLink();
}

function render(view: ContactLinkView): void {
  const signature = JSON.stringify([view, tabLink?.text]);
  if (signature === shown) return;
  shown = signature;
  const out = view.outgoing;
  const offer =
    tabLink &&
    !view.contactKeys.includes(tabLink.link.key) &&
    !(out?.state === 'waiting' && out.key === tabLink.link.key)
      ? el(
          'div',
          { class: 'ring-card', role: 'group', 'aria-label': 'Contact link' },
          el('p', {}, `${tabLink.link.name || 'Someone'}'s contact link`),
          el('p', { class: 'hint' }, `Key ${tabLink.fingerprint}`),
          el('div', { class: 'row' }, addButton(tabLink.text)),
        )
      : null;
  const requests = view.requests.map((request) => {
    const add = el('button', { type: 'button', class: 'primary' }, 'Add contact');
    add.addEventListener('click', () => void answer(request.id, 'accept'));
    const notNow = el('button', { type: 'button' }, 'Not now');
    notNow.addEventListener('click', () => void answer(request.id, 'not-now'));
    return el(
      'div',
      { class: 'ring-card', role: 'group', 'aria-label': `${request.name} wants to add you as a contact` },
      el('p', {}, `${request.name} wants to add you as a contact`),
      el('p', { class: 'hint' }, `Key ${request.fingerprint}`),
      el('div', { class: 'row' }, add, notNow),
    );
  });
  const outgoing = out ? el('p', { class: out.state === 'refused' ? 'hint error' : 'hint' }, out.text) : null;
  cards.replaceChildren(...[offer, ...requests, outgoing].filter((n) => n !== null));
  cards.hidden = cards.childElementCount === 0;

  const button = el('button', { type: 'button' }, 'Share my contact link');
  button.addEventListener('click', () => void shareLink());
  const mine = view.link
    ? el(
        'div',
        { class: 'field' },
        el('label', { for: 'contact-link-text' }, 'Your contact link'),
        el('input', {
          id: 'contact-link-text',
          type: 'text',
          readonly: true,
          value: view.link,
          spellcheck: 'false',
        }),
        el(
          'p',
          { class: 'hint' },
          'Works once. Whoever opens it with Parley can ask to add you; you choose.',
        ),
      )
    : null;
  share.replaceChildren(...[el('div', { class: 'row' }, button), mine].filter((n) => n !== null));
}

function addButton(text: string): HTMLButtonElement {
  const button = el('button', { type: 'button', class: 'primary' }, 'Add contact');
  button.addEventListener('click', () => void addContactLink(text));
  return button;
}

export async function refreshContactLink(): Promise<void> {
  render(await askContactLink({ type: 'contact-link-state' }));
}

/**
 * `cardsHost` takes the offer, requests and our request's state; `shareHost` the share button.
 * `tabUrl`: the address of the tab the popup was opened on (activeTab lets us read it).
 */
export async function startContactLinks(
  cardsHost: HTMLElement,
  shareHost: HTMLElement,
  tabUrl: string | undefined,
  sayFn: Say,
): Promise<void> {
  cards = cardsHost;
  share = shareHost;
  say = sayFn;
  const link = tabUrl ? parseContactLink(tabUrl) : null;
  if (link && tabUrl) tabLink = { text: tabUrl, link, fingerprint: await keyFingerprint(link.key) };
  await refreshContactLink();
}
