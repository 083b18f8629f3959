/**
 * Where a call is shown: an overlay mounted in the page the person started it on, its own
 * small call window where a page cannot hold it (restricted pages, a page that navigated away,
 * no camera permission there), and back from the window onto a page. Every placement hands
 * the new overlay document a fresh one-time capability through its URL fragment.
 */
import { mountOverlay } from '../content/mount-overlay.ts';
import {
  type CallMedia,
  type SimpleResult,
  type StartResult,
  WINDOW_REASONS,
  type WindowReason,
} from '../messaging/messages.ts';
import { randomBase64Url, type ShareLink } from '../protocol/link.ts';
import { type CallRecord, findCall, getCall, putCall, updateCall } from './call-registry.ts';
import { callLink, endCall, findCallForTab } from './calls.ts';
import { liveCalls } from './live-call.ts';
import { loadSettings } from './settings.ts';

export const OVERLAY_PAGE = 'src/overlay/overlay.html';
export const WINDOW_PAGE = 'src/overlay/window.html';
export const PERMISSION_PAGE = 'src/permission/permission.html';
/** The call window's size. */
export const CALL_WINDOW_SIZE = { width: 440, height: 560 } as const;

/** After a page says it is leaving: long enough for tabs.onRemoved to tell a closing tab. */
const LEAVING_SETTLE_MS = 300;

export const pageUrl = (path: string) => chrome.runtime.getURL(path);

function mountIn(tabId: number, cap: string): Promise<unknown> {
  return chrome.scripting.executeScript({
    target: { tabId, frameIds: [0] },
    func: mountOverlay,
    args: [`${pageUrl(OVERLAY_PAGE)}#cap=${cap}`],
  });
}

export async function openCall(
  tabId: number,
  link: ShareLink,
  media: CallMedia,
  ring?: CallRecord['ring'],
): Promise<StartResult> {
  if (await findCallForTab(tabId)) {
    return { ok: false, error: 'A call is already running in this tab. Hang up first.' };
  }
  const { name } = await loadSettings();
  const call: CallRecord = {
    callId: randomBase64Url(16),
    tabId,
    pageTabId: tabId,
    host: 'overlay',
    server: link.server,
    room: link.room,
    secret: link.secret,
    media,
    name: name || 'Parley user',
    cap: randomBase64Url(32),
    capUsed: false,
    sessionKey: randomBase64Url(32),
    joinRequested: false,
    createdAt: Date.now(),
    ...(ring ? { ring } : {}),
  };
  await putCall(call);
  try {
    await mountIn(tabId, call.cap);
    return { ok: true, link: callLink(call), host: 'overlay' };
  } catch {
    // chrome:// pages, the Web Store, PDFs and other pages extensions may not script.
    const moved = await openCallWindow(call.callId, 'restricted');
    if (!moved) return { ok: false, error: 'The call window could not be opened. Try again.' };
    return { ok: true, link: callLink(call), host: 'window', notice: WINDOW_REASONS.restricted };
  }
}

/** Move a call into a small extension window with a fresh capability. */
export async function openCallWindow(callId: string, reason: WindowReason): Promise<boolean> {
  const call = await updateCall(callId, (c) => ({
    ...c,
    host: 'window',
    tabId: null,
    cap: randomBase64Url(32),
    capUsed: false,
  }));
  if (!call) return false;
  try {
    const win = await chrome.windows.create({
      type: 'popup',
      url: `${pageUrl(WINDOW_PAGE)}#cap=${call.cap}&why=${reason}`,
      ...CALL_WINDOW_SIZE,
      focused: true,
    });
    const tabId = win?.tabs?.[0]?.id ?? null;
    await updateCall(callId, (c) => ({ ...c, windowId: win?.id, tabId: c.tabId ?? tabId }));
    return true;
  } catch {
    await endCall(callId);
    return false;
  }
}

/**
 * The popup's "Move the call to this page": a call running in its own window (the page it was
 * on went away, or could not hold it) goes into an overlay on the page the popup was opened
 * on (activeTab lets us in), under the same place in the room, and the window closes. The
 * window's overlay leaves first, without a bye, as a page that deleted it would make it; the
 * new one offers at once (`joined.rejoin`), and the other side takes that as the same person's
 * new connection.
 */
export async function bringCallToTab(callId: string, tabId: number): Promise<SimpleResult> {
  const call = await getCall(callId);
  if (call?.host !== 'window')
    return { ok: false, error: 'There is no call in its own window for this tab.' };
  const cannot = 'Parley cannot run on this page, so the call stays in its window.';
  try {
    await chrome.scripting.executeScript({ target: { tabId, frameIds: [0] }, func: () => true });
  } catch {
    return { ok: false, error: cannot };
  }
  await liveCalls.get(callId)?.releaseOverlay();
  const moved = await updateCall(callId, ({ windowId: _closed, ...c }) => ({
    ...c,
    host: 'overlay',
    tabId,
    cap: randomBase64Url(32),
    capUsed: false,
  }));
  if (!moved) return { ok: false, error: 'The call has ended.' };
  if (call.windowId !== undefined) await chrome.windows.remove(call.windowId).catch(() => undefined);
  try {
    await mountIn(tabId, moved.cap);
  } catch {
    await openCallWindow(callId, 'restricted');
    return { ok: false, error: cannot };
  }
  return { ok: true };
}

/**
 * The page holding the overlay is unloading (navigation, reload, tab closing): nothing will
 * re-mount the overlay there. A closing tab is reported by tabs.onRemoved moments later, and
 * that ends the call (endCallsInTab says bye for it). A tab that navigates or reloads is
 * still there: the person clicked a link, not Hang up, so the call goes on in its own window
 * under the same place in the room (the new overlay offers at once, as after a re-mount).
 */
export async function pageLeft(tabId: number): Promise<void> {
  const call = await findCall((c) => c.host === 'overlay' && c.tabId === tabId);
  if (!call) return;
  await new Promise((resolve) => setTimeout(resolve, LEAVING_SETTLE_MS));
  const current = await getCall(call.callId);
  if (current?.host !== 'overlay' || current.tabId !== tabId) return;
  const tabOpen = await chrome.tabs.get(tabId).then(
    () => true,
    () => false,
  );
  if (!tabOpen) return endCall(call.callId);
  await openCallWindow(call.callId, 'navigated');
}

/** A page removed our overlay and the content script put it back: issue a fresh capability. */
export async function remount(tabId: number): Promise<string | undefined> {
  const call = await findCall((c) => c.host === 'overlay' && c.tabId === tabId);
  if (!call) return undefined;
  const next = await updateCall(call.callId, (c) => ({ ...c, cap: randomBase64Url(32), capUsed: false }));
  return next ? `${pageUrl(OVERLAY_PAGE)}#cap=${next.cap}` : undefined;
}
