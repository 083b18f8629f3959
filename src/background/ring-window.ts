/**
 * The call window, made ready while a contact's ring rings, so that **Accept** turns into
 * video about as fast as opening a call link: the window (its process, its page, the call
 * engine's code) is what takes longest to start, and the ring gives us the time to start it.
 *
 * When the ring is shown, a call window opens minimized and unfocused. Its page loads and
 * presents its one-time capability, which matches no call yet: the claim waits here, and the
 * page shows nothing and touches no device while it waits. **Accept** makes the call with that
 * capability, hands it to the waiting page (which starts the camera and joins at once) and
 * brings the window up. Decline, no answer, the caller hanging up or a busy line close it.
 *
 * Nothing is sent anywhere while it waits: the room is joined only on Accept. A window that
 * failed to open or was closed meanwhile is not used: Accept opens a new window as before. A
 * worker that stops while it rings loses the waiting claim with its port: the page, refused,
 * closes its window itself (src/overlay/extension-entry.ts).
 */

import type { Port } from '../messaging/runtime.ts';
import { isOwnExtension } from '../messaging/runtime.ts';
import { randomBase64Url } from '../protocol/link.ts';
import type { CallRecord } from './call-registry.ts';
import { CALL_WINDOW_SIZE, pageUrl, WINDOW_PAGE } from './placement.ts';

interface Standby {
  windowId: number;
  tabId: number | null;
  cap: string;
  /** The page's claim, waiting for Accept (null until the page asked). */
  waiting: ((call: CallRecord | undefined) => void) | null;
  /** The waiting page's port went away (window closed): not usable. */
  gone: boolean;
}

/** By ring call id: the window being opened, or null when it could not be. */
const standbys = new Map<string, Promise<Standby | null>>();

/** Open the window for this ring (minimized, unfocused); `stillRinging` is asked once it is open. */
export function prepareCallWindow(ringCallId: string, stillRinging: () => Promise<boolean>): void {
  if (standbys.has(ringCallId)) return;
  const cap = randomBase64Url(32);
  const opening = (async (): Promise<Standby | null> => {
    let win: chrome.windows.Window | undefined;
    try {
      win = await chrome.windows.create({
        type: 'popup',
        url: `${pageUrl(WINDOW_PAGE)}#cap=${cap}&why=answered`,
        state: 'minimized',
        focused: false,
      });
    } catch {
      return null;
    }
    if (win?.id === undefined) return null;
    const standby: Standby = {
      windowId: win.id,
      tabId: win.tabs?.[0]?.id ?? null,
      cap,
      waiting: null,
      gone: false,
    };
    if (!(await stillRinging())) {
      await closeWindow(standby);
      return null;
    }
    return standby;
  })();
  standbys.set(ringCallId, opening);
}

async function closeWindow(standby: Standby): Promise<void> {
  standby.waiting?.(undefined);
  standby.waiting = null;
  await chrome.windows.remove(standby.windowId).catch(() => undefined);
}

/** The ring ended without Accept: close its window. */
export async function dropCallWindow(ringCallId: string, leftoverWindowId?: number): Promise<void> {
  const opening = standbys.get(ringCallId);
  standbys.delete(ringCallId);
  const standby = await opening;
  if (standby) await closeWindow(standby);
  else if (leftoverWindowId !== undefined)
    await chrome.windows.remove(leftoverWindowId).catch(() => undefined);
}

/**
 * Accept: the ready window for this ring, taken (its page's claim is answered by `answer`),
 * or null when there is none to use (then the caller opens one).
 */
export async function takeCallWindow(
  ringCallId: string,
): Promise<{ windowId: number; tabId: number | null; cap: string; answer(call: CallRecord): void } | null> {
  const opening = standbys.get(ringCallId);
  standbys.delete(ringCallId);
  const standby = await opening;
  if (!standby) return null;
  if (standby.gone) {
    await closeWindow(standby);
    return null;
  }
  return {
    windowId: standby.windowId,
    tabId: standby.tabId,
    cap: standby.cap,
    answer(call) {
      standby.waiting?.(call);
      standby.waiting = null;
      // Up and in front, at the call window's size (a minimized window cannot be given one).
      void chrome.windows
        .update(standby.windowId, { state: 'normal', focused: true, ...CALL_WINDOW_SIZE })
        .catch(() => undefined);
    },
  };
}

/**
 * An overlay port's claim with a capability no call has: if it is a ready window's page (our
 * window page, top frame, that window's tab), wait for the ring's answer. Undefined when it is
 * not one, or the ring ended without Accept.
 */
export async function claimWhileRinging(cap: string, port: Port): Promise<CallRecord | undefined> {
  for (const opening of standbys.values()) {
    const standby = await opening;
    if (!standby || standby.cap !== cap || standby.waiting || standby.gone) continue;
    const sender = port.sender;
    if (!sender || !isOwnExtension(sender) || !sender.url || sender.frameId !== 0) return undefined;
    const url = new URL(sender.url);
    if (`${url.origin}${url.pathname}` !== pageUrl(WINDOW_PAGE)) return undefined;
    if (standby.tabId !== null && sender.tab?.id !== standby.tabId) return undefined;
    return new Promise<CallRecord | undefined>((resolve) => {
      standby.waiting = resolve;
      port.onDisconnect.addListener(() => {
        standby.gone = true;
        if (standby.waiting === resolve) standby.waiting = null;
        resolve(undefined);
      });
    });
  }
  return undefined;
}
