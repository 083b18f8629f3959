/**
 * The calls this browser is in, kept in chrome.storage.session: it survives a service-worker
 * restart (so a restart loses no call) but not a browser restart, and content scripts cannot
 * read it (session storage defaults to trusted contexts only).
 */
import type { CallMedia, ChatEntry } from '../messaging/messages.ts';

export interface CallRecord {
  callId: string;
  /** The tab showing the call: the page with the overlay, or the call window's tab. */
  tabId: number | null;
  /** The tab the user started the call from (the popup shows the call there). */
  pageTabId: number;
  host: 'overlay' | 'window';
  windowId?: number;
  server: string;
  room: string;
  secret: string;
  media: CallMedia;
  name: string;
  /** One-time capability handed to the overlay through its URL fragment. */
  cap: string;
  capUsed: boolean;
  /** Lets the overlay re-attach its port after the service worker restarted. */
  sessionKey: string;
  /** From the last `joined`: reclaims our peer id when the socket reconnects. */
  resume?: { peerId: string; token: string };
  /** The overlay asked to join; the watchdog revives the socket of such calls. */
  joinRequested: boolean;
  createdAt: number;
  /** When the call first connected, as an overlay reported it: the call timer's start. */
  connectedAt?: number;
  /**
   * The chat so far (newest CHAT_LOG_MAX lines), for the call's next overlay. Kept in session
   * storage like the rest of the record: memory only, trusted contexts only, gone with the call.
   */
  chat?: ChatEntry[];
  /**
   * A call between contacts that began as a ring (./rings.ts): which ring, with whom, and
   * which way. `peerName` is what the overlay says while ringing ("Calling Ana…").
   */
  ring?: {
    callId: string;
    contactKey: string;
    peerName: string;
    direction: 'out' | 'in';
    /** Our ring ended unanswered: the sentence the overlay shows ("Bo declined the call."). */
    ended?: string;
  };
}

/** `pageTabId` of a call that no page started (an answered ring, in its own window). */
export const NO_PAGE_TAB = -1;

const KEY = 'calls';
let queue: Promise<unknown> = Promise.resolve();

/** Serialise read-modify-write cycles: messages and socket events interleave freely. */
function exclusive<T>(task: () => Promise<T>): Promise<T> {
  const next = queue.then(task, task);
  queue = next.catch(() => undefined);
  return next;
}

async function readAll(): Promise<Record<string, CallRecord>> {
  return ((await chrome.storage.session.get(KEY))[KEY] as Record<string, CallRecord> | undefined) ?? {};
}

export function listCalls(): Promise<CallRecord[]> {
  return exclusive(async () => Object.values(await readAll()));
}

export async function getCall(callId: string): Promise<CallRecord | undefined> {
  return (await listCalls()).find((c) => c.callId === callId);
}

export async function findCall(match: (call: CallRecord) => boolean): Promise<CallRecord | undefined> {
  return (await listCalls()).find(match);
}

export function putCall(call: CallRecord): Promise<void> {
  return exclusive(async () => {
    const all = await readAll();
    all[call.callId] = call;
    await chrome.storage.session.set({ [KEY]: all });
  });
}

/** Apply a change to one call; resolves with the new record, or undefined if it is gone. */
export function updateCall(
  callId: string,
  change: (call: CallRecord) => CallRecord | undefined,
): Promise<CallRecord | undefined> {
  return exclusive(async () => {
    const all = await readAll();
    const current = all[callId];
    if (!current) return undefined;
    const next = change({ ...current });
    if (next) all[callId] = next;
    await chrome.storage.session.set({ [KEY]: all });
    return next;
  });
}

export function removeCall(callId: string): Promise<CallRecord | undefined> {
  return exclusive(async () => {
    const all = await readAll();
    const gone = all[callId];
    delete all[callId];
    await chrome.storage.session.set({ [KEY]: all });
    return gone;
  });
}
