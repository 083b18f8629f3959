/**
 * Calls as a whole: finding the call of a tab, its link, ending it (from anywhere: the
 * overlay, the popup's Hang up, a closed tab, a grace period that ran out) and the watchdog.
 * The call record (./call-registry.ts) is what survives a worker restart; the live side of a
 * call (overlay port, room socket, lifecycle) is its `LiveCall` (./live-call.ts); where it is
 * shown is ./placement.ts; the overlay's port is ./overlay-port.ts.
 */
import { formatCallLink } from '../messaging/call-link.ts';
import { tellContent } from '../messaging/runtime.ts';
import { type CallRecord, findCall, listCalls, NO_PAGE_TAB, removeCall } from './call-registry.ts';
import { liveCalls } from './live-call.ts';
import { cancelRingOf } from './rings.ts';

/** How long a call waits for its overlay to (re-)attach before the watchdog ends it. */
const PORTLESS_GRACE_MS = 20_000;
/** How long a call that was never claimed may wait for its first overlay. */
const UNCLAIMED_GRACE_MS = 60_000;

export function callLink(call: CallRecord): string {
  return formatCallLink({ server: call.server, room: call.room, secret: call.secret }, call.media);
}

/**
 * The call the popup shows on this tab: one started or shown there, else an answered ring in
 * its own window (no page started it; the popup offers to move it onto this page).
 */
export async function findCallForTab(tabId: number): Promise<CallRecord | undefined> {
  return (
    (await findCall((c) => c.pageTabId === tabId || c.tabId === tabId)) ??
    (await findCall((c) => c.pageTabId === NO_PAGE_TAB && c.host === 'window'))
  );
}

export async function endCall(callId: string): Promise<void> {
  liveCalls.end(callId);
  const call = await removeCall(callId);
  if (!call) return;
  cancelRingOf(call);
  if (call.host === 'overlay' && call.tabId !== null) await tellContent(call.tabId, { parley: 'remove' });
  if (call.host === 'window' && call.windowId !== undefined) {
    await chrome.windows.remove(call.windowId).catch(() => undefined);
  }
}

/** Hang up from the popup: let the overlay end the call itself (it says bye to the peer). */
export async function hangUp(callId: string): Promise<void> {
  if (!liveCalls.get(callId)?.hangUp(() => void endCall(callId))) await endCall(callId);
}

export async function endCallsInTab(tabId: number): Promise<void> {
  for (const call of await listCalls()) {
    if (call.tabId === tabId) await endCall(call.callId);
  }
}

/**
 * The watchdog (chrome.alarms, and once at worker start): revive the room sockets of live
 * calls and end calls whose overlay has been gone too long (tab navigated away, frame
 * destroyed, a worker restart nobody came back from).
 */
export async function watchdog(): Promise<void> {
  const now = Date.now();
  for (const call of await listCalls()) {
    const live = liveCalls.of(call.callId);
    const missingSince = live.overlayMissingSince;
    if (
      missingSince !== null &&
      now - missingSince > PORTLESS_GRACE_MS &&
      (call.capUsed || now - call.createdAt > UNCLAIMED_GRACE_MS)
    ) {
      await endCall(call.callId);
      continue;
    }
    if (call.tabId !== null) {
      const tab = await chrome.tabs.get(call.tabId).catch(() => undefined);
      if (!tab) {
        await endCall(call.callId);
        continue;
      }
    }
    if (call.joinRequested) live.ensureRoom(call);
  }
}
