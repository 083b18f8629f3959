/**
 * The service worker: display name and settings, the call registry, and the live calls (one
 * signaling socket and one overlay port each, see ./live-call.ts). Every message is validated
 * on receipt and its sender checked (our own extension, and the page it must come from).
 */

import { SEND_AGAIN_SECRET_REQUEST } from '../call/files/send-again-key.ts';
import { linkMedia } from '../messaging/call-link.ts';
import {
  OVERLAY_PORT_NAME,
  PermissionToBgSchema,
  type PopupReplies,
  type PopupToBg,
  PopupToBgSchema,
  parse,
} from '../messaging/messages.ts';
import { POPUP_PORT_NAME } from '../messaging/popup-port.ts';
import { isOwnExtension, type MessageSender, onPortConnect, onRuntimeMessage } from '../messaging/runtime.ts';
import { startPlatformHosts } from '../platform/background.ts';
import { newShareLink, normalizeServerUrl, parseShareLink } from '../protocol/link.ts';
import { callLink, endCallsInTab, findCallForTab, hangUp, watchdog } from './calls.ts';
import { contactAction, contactViews } from './contact-actions.ts';
import { ensureContactLink, handleContactLinkMessage, startContactLinks } from './contact-link.ts';
import { identityView } from './identity.ts';
import { acceptOverlayPort, permissionResult } from './overlay-port.ts';
import {
  bringCallToTab,
  OVERLAY_PAGE,
  openCall,
  PERMISSION_PAGE,
  pageLeft,
  remount,
  WINDOW_PAGE,
} from './placement.ts';
import { acceptPopupPort, startPopupUpdates } from './popup-updates.ts';
import { presence } from './presence.ts';
import {
  answerRing,
  dismissRefused,
  missedCalls,
  refusedRings,
  ringContact,
  ringViews,
  startRings,
  sweepRings,
} from './rings.ts';
import { sendAgainSecret } from './send-again-secret.ts';
import { loadSettings, saveSettings } from './settings.ts';

const WATCHDOG_ALARM = 'parley-watchdog';

type PopupHandlers = {
  [K in PopupToBg['type']]: (message: Extract<PopupToBg, { type: K }>) => Promise<PopupReplies[K]>;
};

const popupHandlers = {
  async 'get-state'(message) {
    const { name, server, available } = await loadSettings();
    const call = message.tabId === undefined ? undefined : await findCallForTab(message.tabId);
    const contacts = await contactViews();
    const fingerprint = await identityView().then(
      (view) => view.fingerprint,
      () => null,
    );
    return {
      name,
      server,
      call: call
        ? {
            link: call.ring ? null : callLink(call),
            ...(call.ring ? { contact: call.ring.peerName } : {}),
            media: call.media,
            host: call.host,
          }
        : null,
      fingerprint,
      available: available ?? contacts.length > 0,
      presence: presence.status,
      contacts,
      rings: await ringViews(),
      missed: await missedCalls(),
      refused: await refusedRings(),
    };
  },
  async 'start-call'(message) {
    const { server } = await loadSettings();
    return openCall(message.tabId, newShareLink(server), message.media);
  },
  async 'join-call'(message) {
    const link = parseShareLink(message.link);
    if (!link) {
      return { ok: false, error: 'That is not a Parley link. It looks like http://server/r/room#secret.' };
    }
    return openCall(message.tabId, link, linkMedia(message.link));
  },
  async 'bring-call'(message) {
    const call = await findCallForTab(message.tabId);
    if (call?.host !== 'window')
      return { ok: false, error: 'There is no call in its own window for this tab.' };
    return bringCallToTab(call.callId, message.tabId);
  },
  async 'hang-up'(message) {
    const call = await findCallForTab(message.tabId);
    if (!call) return { ok: false, error: 'There is no call in this tab.' };
    await hangUp(call.callId);
    return { ok: true };
  },
  async 'save-name'(message) {
    await saveSettings({ name: message.name });
    return { ok: true };
  },
  async 'save-settings'(message) {
    let server: string;
    try {
      server = normalizeServerUrl(message.server);
    } catch {
      return { ok: false, error: 'The server address must start with http:// or https://.' };
    }
    await saveSettings({ server });
    await presence.ensure();
    return { ok: true, server };
  },
  async 'set-available'(message) {
    await saveSettings({ available: message.available });
    await presence.ensure();
    return { ok: true };
  },
  'contact-action': (message) => contactAction(message.key, message.action, message.name),
  'ring-contact': (message) => ringContact(message.tabId, message.key, message.media),
  'answer-ring': (message) => answerRing(message.callId, message.answer),
  async 'dismiss-refused'() {
    await dismissRefused();
    return { ok: true };
  },
} satisfies PopupHandlers;

function fromPage(sender: MessageSender, path: string): boolean {
  if (!isOwnExtension(sender) || !sender.url) return false;
  const url = new URL(sender.url);
  return `${url.origin}${url.pathname}` === chrome.runtime.getURL(path);
}

onRuntimeMessage((raw, sender) => {
  if (!isOwnExtension(sender)) return undefined;
  if (fromPage(sender, 'src/popup/popup.html') && !sender.tab) {
    const message = parse(PopupToBgSchema, raw);
    if (!message) return handleContactLinkMessage(raw);
    const handler = popupHandlers[message.type] as (m: PopupToBg) => Promise<unknown>;
    return handler(message);
  }
  if (fromPage(sender, PERMISSION_PAGE) && sender.frameId === 0) {
    const message = parse(PermissionToBgSchema, raw);
    if (!message) return undefined;
    return permissionResult(message.callId, message.granted).then(async () => {
      if (message.granted && sender.tab?.id !== undefined)
        await chrome.tabs.remove(sender.tab.id).catch(() => {});
      return true;
    });
  }
  // Our overlay or call window (never a page: its runtime messages come from the page's URL).
  if (fromPage(sender, OVERLAY_PAGE) || fromPage(sender, WINDOW_PAGE)) {
    const type = (raw as { type?: unknown })?.type;
    if (type === SEND_AGAIN_SECRET_REQUEST) return sendAgainSecret();
    return undefined;
  }
  // The content script (top frame of a tab): asking for a fresh capability after the page
  // removed the overlay, or saying the page is unloading. Only our content script can send
  // runtime messages from a page.
  if (sender.tab?.id !== undefined && sender.frameId === 0) {
    const type = (raw as { type?: unknown })?.type;
    if (type === 'remount') return remount(sender.tab.id).then((src) => src ?? null);
    if (type === 'leaving') return pageLeft(sender.tab.id).then(() => null);
  }
  return undefined;
});

onPortConnect((port) => {
  if (port.name === OVERLAY_PORT_NAME) acceptOverlayPort(port);
  else if (port.name === POPUP_PORT_NAME) acceptPopupPort(port);
});
startPopupUpdates();

chrome.tabs.onRemoved.addListener((tabId) => void endCallsInTab(tabId));

// Ask for a 30 s alarm (Chrome's minimum): revives sockets of live calls after a restart.
chrome.alarms.create(WATCHDOG_ALARM, { periodInMinutes: 0.5 });
chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name !== WATCHDOG_ALARM) return;
  void watchdog();
  void presence.ensure();
  void ensureContactLink();
  void sweepRings();
});
void watchdog();

// The presence socket (./presence.ts): at every worker start (which also makes the identity
// on first run), when the profile starts, and when the network comes back.
startRings();
startContactLinks();
chrome.runtime.onStartup.addListener(() => void presence.ensure());
addEventListener('online', () => void presence.ensure());
void presence.ensure();

startPlatformHosts();
