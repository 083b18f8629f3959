/**
 * Text chat beside the call, peer to peer over each person's link (t = 'chat' on the control
 * channel, routed here by src/call/peer-link.ts).
 * Peer text is only ever put in text nodes; links become <a> only for http(s).
 */
import type { PeerLink } from '../call/peer-link.ts';
import type { ChatEntry } from '../messaging/messages.ts';
import { CHAT_TYPES, MAX_CHAT_TEXT, parseChatMessage } from '../protocol/peer-chat.ts';
import { splitLinks } from './chat-links.ts';
import './files/panels.css';
import type { PanelContext } from './panel-context.ts';
import { el } from './ui/dom.ts';

export type { ChatEntry };

/** For a call that goes on in a new page (the extension's re-mounted overlay or call window). */
export interface ChatPanelOptions {
  /** Lines from before this panel (an earlier overlay of the same call), shown as read. */
  history?: readonly ChatEntry[];
  /** Every new line, to keep for the next panel of this call. */
  onEntry?(entry: ChatEntry): void;
}

export interface ChatPanel {
  /** Line in the timeline (also used by the files panel for "X sent Y"). */
  announce(text: string): void;
  /** Unread message count, for the badge while the chat or overlay is minimized. */
  onUnreadChange(handler: (count: number) => void): void;
  /** Tell the panel whether the user can currently see it (resets unread when true). */
  setVisible(visible: boolean): void;
  destroy(): void;
}

const NOT_UNDERSTOOD = 'The other side sent something Parley does not understand.';
/** Said while a message waits for a connection being replaced. */
const HELD = 'Reconnecting: your message will be sent as soon as the connection is back.';

function messageId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
}

function clock(at: Date): string {
  return at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function mountChatPanel(
  host: HTMLElement,
  ctx: Omit<PanelContext, 'announce'>,
  options: ChatPanelOptions = {},
): ChatPanel {
  host.textContent = '';
  const list = el('ol', { class: 'parley-chat-list', 'aria-live': 'polite', 'aria-label': 'Messages' });
  const input = el('input', {
    type: 'text',
    class: 'parley-chat-input',
    'aria-label': 'Message',
    placeholder: 'Message',
    maxlength: String(MAX_CHAT_TEXT),
    autocomplete: 'off',
  });
  const send = el('button', { type: 'submit', class: 'parley-btn parley-chat-send' }, 'Send');
  const hint = el('p', { class: 'parley-chat-hint', role: 'status' });
  const form = el('form', { class: 'parley-chat-form' }, input, send);
  host.append(list, hint, form);

  const links = new Map<string, { link: PeerLink; detach: () => void }>();
  const unreadHandlers = new Set<(count: number) => void>();
  let visible = false;
  let unread = 0;
  let lastProblemAt = 0;

  function setUnread(count: number): void {
    if (count === unread) return;
    unread = count;
    for (const handler of unreadHandlers) handler(unread);
  }

  function scrollToEnd(): void {
    list.lastElementChild?.scrollIntoView?.({ block: 'end' });
  }

  function addMessage(who: string, text: string, at: Date, mine: boolean, replay = false): void {
    const body = el('p', { class: 'parley-chat-text' });
    for (const segment of splitLinks(text)) {
      if ('href' in segment) {
        body.append(
          el('a', { href: segment.href, target: '_blank', rel: 'noopener noreferrer' }, segment.text),
        );
      } else {
        body.append(segment.text);
      }
    }
    const item = el(
      'li',
      { class: mine ? 'parley-chat-message parley-chat-mine' : 'parley-chat-message' },
      el(
        'div',
        { class: 'parley-chat-meta' },
        el('span', { class: 'parley-chat-who' }, who),
        ' ',
        el('time', { datetime: at.toISOString() }, clock(at)),
      ),
      body,
    );
    list.append(item);
    scrollToEnd();
    if (replay) return;
    if (!mine && !visible) setUnread(unread + 1);
    options.onEntry?.({ kind: 'message', text, at: at.getTime(), who, mine });
  }

  function addEvent(text: string, at = new Date(), replay = false): void {
    list.append(
      el(
        'li',
        { class: 'parley-chat-event' },
        el('time', { datetime: at.toISOString() }, clock(at)),
        ' ',
        text,
      ),
    );
    scrollToEnd();
    if (!replay) options.onEntry?.({ kind: 'event', text, at: at.getTime() });
  }

  for (const entry of options.history ?? []) {
    const at = new Date(entry.at);
    if (entry.kind === 'message') addMessage(entry.who ?? '', entry.text, at, entry.mine === true, true);
    else addEvent(entry.text, at, true);
  }

  function onChat(link: PeerLink, raw: unknown): void {
    const parsed = parseChatMessage(raw);
    if (parsed.kind === 'ok') addMessage(link.remoteName(), parsed.message.text, new Date(), false);
    else if (parsed.kind === 'invalid' && Date.now() - lastProblemAt > 5000) {
      // A flood of bad messages shows one line every few seconds, not one per message.
      lastProblemAt = Date.now();
      addEvent(NOT_UNDERSTOOD);
    }
  }

  const offLink = ctx.onLink((link) => {
    links.get(link.peerId)?.detach();
    const offRoute = link.route(CHAT_TYPES, (message) => onChat(link, message));
    // Messages held while a connection was replaced have gone out once it is back.
    const offState = link.onState((state) => {
      if (
        state === 'open' &&
        hint.textContent === HELD &&
        [...links.values()].every((l) => l.link.state !== 'paused')
      )
        hint.textContent = '';
    });
    links.set(link.peerId, {
      link,
      detach: () => {
        offRoute();
        offState();
      },
    });
    hint.textContent = '';
  });
  const offClosed = ctx.onLinkClosed((peerId) => {
    links.get(peerId)?.detach();
    links.delete(peerId);
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHAT_TEXT) {
      hint.textContent = `Messages can be at most ${MAX_CHAT_TEXT} characters.`;
      return;
    }
    if (links.size === 0) {
      hint.textContent = 'Nobody else is in the call yet: your message was not sent.';
      return;
    }
    const message = { t: 'chat', id: messageId(), text, sentAt: Date.now() };
    // A person whose connection is being replaced gets it once the new one is up, in order.
    const outcomes = [...links.values()].map(({ link }) => link.sendOrHold(message));
    if (outcomes.every((o) => o === 'dropped')) {
      hint.textContent = 'Your message could not be sent: the others are no longer connected.';
      return;
    }
    hint.textContent = outcomes.includes('held') ? HELD : '';
    input.value = '';
    addMessage('You', text, new Date(), true);
  });

  return {
    announce: (text) => addEvent(text),
    onUnreadChange(handler) {
      unreadHandlers.add(handler);
    },
    setVisible(isVisible) {
      visible = isVisible;
      if (visible) setUnread(0);
    },
    destroy() {
      offLink();
      offClosed();
      for (const { detach } of links.values()) detach();
      links.clear();
      unreadHandlers.clear();
      host.textContent = '';
    },
  };
}
