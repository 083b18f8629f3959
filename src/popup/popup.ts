/**
 * The toolbar popup: start a video or audio call, join by pasting a link, your name, the
 * signaling server; while a call runs in this tab, Copy link and Hang up instead. Below:
 * **Your identity** (name, key fingerprint, the **Available for calls** switch) and the
 * **Contacts** list (./contacts-list.ts). The state is asked again whenever the worker says it
 * may have changed (a port to it, see listenForChanges).
 * The popup has the user's click, so it is the one place that can write the clipboard
 * reliably right after starting a call.
 */
import type { ContactView, PopupState, StartResult } from '../messaging/messages.ts';
import { POPUP_PORT_NAME } from '../messaging/popup-port.ts';
import { askBackground, connectToBackground } from '../messaging/runtime.ts';
import { parseShareLink } from '../protocol/link.ts';
import { addContactLink, isContactLink, refreshContactLink, startContactLinks } from './contact-link.ts';
import { renderContacts } from './contacts-list.ts';
import { renderMissed, renderRefused, renderRings } from './rings-view.ts';
import { initTeamRooms } from './team-rooms.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const idle = $('idle');
const active = $('active');
const activeText = $('active-text');
const status = $('status');
const nameInput = $<HTMLInputElement>('name');
const serverInput = $<HTMLInputElement>('server');
const linkInput = $<HTMLInputElement>('join-link');
const availableInput = $<HTMLInputElement>('available');

const PRESENCE_TEXT = {
  off: 'Contacts cannot call you now.',
  connecting: 'Connecting to the server…',
  online: 'Your contacts can call you.',
} as const;

let tabId: number | undefined;
let currentLink = '';
let filled = false;

function say(text: string, isError = false): void {
  status.textContent = text;
  status.classList.toggle('error', isError);
}

function render(state: PopupState): void {
  // Name and server change only here: fill them once, so a refresh never overwrites typing.
  if (!filled) {
    filled = true;
    nameInput.value = state.name;
    serverInput.value = state.server;
  }
  idle.hidden = state.call !== null;
  active.hidden = state.call === null;
  currentLink = state.call?.link ?? '';
  $('copy-link').hidden = state.call?.link === null;
  if (state.call) {
    const { contact, host } = state.call;
    const kind = state.call.media === 'audio' ? 'An audio call' : 'A video call';
    const what = contact ? `${kind} with ${contact}` : kind;
    activeText.textContent =
      host === 'window'
        ? `${what}${contact ? '' : ' from this tab'} is running in its own window.`
        : `${what} is running in this tab.`;
  }
  $('bring-call').hidden = state.call?.host !== 'window';
  $('fingerprint').textContent = state.fingerprint ?? 'unavailable in this browser';
  availableInput.checked = state.available;
  $('presence-text').textContent = state.available ? PRESENCE_TEXT[state.presence] : PRESENCE_TEXT.off;
  $('no-contacts').hidden = state.contacts.length > 0;
  renderContacts($('contacts'), state.contacts, { say, refresh, ring });
  renderRings($('rings'), state.rings, answer);
  renderMissed($('missed-section'), $('missed'), state.missed);
  renderRefused($('refused-section'), $('refused'), state.refused);
}

function ring(contact: ContactView, media: 'video' | 'audio'): void {
  void withTab(async (id) => {
    say(`Calling ${contact.name}…`);
    const result = await askBackground({ type: 'ring-contact', tabId: id, key: contact.key, media });
    if (!result.ok) say(result.error, true);
    await refresh();
  });
}

async function answer(callId: string, choice: 'accept' | 'decline'): Promise<void> {
  const result = await askBackground({ type: 'answer-ring', callId, answer: choice });
  if (result.ok) say(choice === 'accept' ? 'The call opened in its own window.' : 'Call declined.');
  else say(result.error, true);
  await refresh();
}

async function refresh(): Promise<void> {
  const [state] = await Promise.all([
    askBackground({ type: 'get-state', ...(tabId === undefined ? {} : { tabId }) }),
    refreshContactLink(),
  ]);
  render(state);
}

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

async function afterStart(result: StartResult, started: boolean): Promise<void> {
  if (!result.ok) {
    say(result.error, true);
    return;
  }
  const notice = result.notice ? ` ${result.notice}` : '';
  if (started) {
    say((await copy(result.link)) ? `Link copied.${notice}` : `Copy the link from the call.${notice}`);
  } else {
    say(`Joining the call.${notice}`);
  }
  await refresh();
}

async function withTab(action: (tabId: number) => Promise<void>): Promise<void> {
  if (tabId === undefined) {
    say('Parley cannot find the tab you are on. Click a page, then open Parley again.', true);
    return;
  }
  try {
    // The name field saves on change (blur); make sure a typed name is saved before a call starts.
    await askBackground({ type: 'save-name', name: nameInput.value });
    await action(tabId);
  } catch {
    say('Something went wrong talking to Parley. Close this popup and try again.', true);
  }
}

function start(media: 'video' | 'audio'): Promise<void> {
  return withTab(async (id) => {
    say(media === 'video' ? 'Starting a video call…' : 'Starting an audio call…');
    await afterStart(await askBackground({ type: 'start-call', tabId: id, media }), true);
  });
}

$('start-video').addEventListener('click', () => void start('video'));
$('start-audio').addEventListener('click', () => void start('audio'));

function joinLink(link: string): Promise<void> {
  return withTab(async (id) => {
    await afterStart(await askBackground({ type: 'join-call', tabId: id, link }), false);
  });
}

initTeamRooms({
  say,
  join: joinLink,
  server: async () => (await askBackground({ type: 'get-state' })).server,
});

$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = linkInput.value.trim();
  if (isContactLink(text)) {
    void addContactLink(text);
    return;
  }
  if (!parseShareLink(text)) {
    say('That is not a Parley link. Paste the whole link, including the part after #.', true);
    return;
  }
  void joinLink(text);
});

$('copy-link').addEventListener('click', async () => {
  say((await copy(currentLink)) ? 'Link copied.' : `Copy this link: ${currentLink}`);
});

$('bring-call').addEventListener('click', () =>
  withTab(async (id) => {
    const result = await askBackground({ type: 'bring-call', tabId: id });
    say(result.ok ? 'The call is on this page now.' : result.error, !result.ok);
    await refresh();
  }),
);

$('dismiss-refused').addEventListener('click', async () => {
  await askBackground({ type: 'dismiss-refused' });
  await refresh();
});

$('hang-up').addEventListener('click', () =>
  withTab(async (id) => {
    const result = await askBackground({ type: 'hang-up', tabId: id });
    say(result.ok ? 'Call ended.' : result.error, !result.ok);
    await refresh();
  }),
);

nameInput.addEventListener('change', async () => {
  const result = await askBackground({ type: 'save-name', name: nameInput.value });
  if (!result.ok) say(result.error, true);
});

$('settings-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = await askBackground({ type: 'save-settings', server: serverInput.value });
  if (result.ok) {
    serverInput.value = result.server ?? serverInput.value;
    say('Settings saved.');
  } else {
    say(result.error, true);
  }
});

availableInput.addEventListener('change', async () => {
  const result = await askBackground({ type: 'set-available', available: availableInput.checked });
  if (!result.ok) say(result.error, true);
  await refresh();
});

async function init(): Promise<void> {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  tabId = tab?.id;
  await startContactLinks($('contact-link-cards'), $('contact-link-share'), tab?.url, say);
  listenForChanges();
  await refresh();
}

let refreshing = false;
let again = false;

/** Ask for the state again; while a refresh runs, once more after it. */
function refreshSoon(): void {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  void refresh()
    .catch(() => {})
    .finally(() => {
      refreshing = false;
      if (again) {
        again = false;
        refreshSoon();
      }
    });
}

/**
 * Presence, contacts, rings and calls change while the popup is open: the worker says so on
 * this port (src/background/popup-updates.ts). A worker that stops drops it: connect again
 * (which starts the worker) and ask anew, since a change may have been missed meanwhile.
 */
function listenForChanges(): void {
  let port: ReturnType<typeof connectToBackground>;
  try {
    port = connectToBackground(POPUP_PORT_NAME);
  } catch {
    return;
  }
  port.onMessage.addListener(() => refreshSoon());
  port.onDisconnect.addListener(() =>
    setTimeout(() => {
      listenForChanges();
      refreshSoon();
    }, 250),
  );
}

void init();
