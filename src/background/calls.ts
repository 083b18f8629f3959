/**
 * Calls: starting and joining (inject the overlay, or open a call window), the runtime port
 * per overlay over which that room's signaling flows, and ending. State that must survive a
 * service-worker restart is in the registry (chrome.storage.session); sockets and ports are
 * per worker instance and are rebuilt when the overlay re-attaches or the watchdog fires.
 */
import { mountOverlay } from '../content/mount-overlay.ts';
import { formatCallLink } from '../messaging/call-link.ts';
import {
  type BgToOverlay,
  type CallInfo,
  type CallMedia,
  CHAT_LOG_MAX,
  OverlayToBgSchema,
  parse,
  type SimpleResult,
  type StartResult,
  WINDOW_REASONS,
  type WindowReason,
} from '../messaging/messages.ts';
import { isOwnExtension, type Port, tellContent } from '../messaging/runtime.ts';
import { randomBase64Url, type ShareLink } from '../protocol/link.ts';
import type { PeerSignal } from '../protocol/peer-signal.ts';
import {
  type CallRecord,
  findCall,
  getCall,
  listCalls,
  putCall,
  removeCall,
  updateCall,
} from './call-registry.ts';
import { RoomSocket } from './room-socket.ts';
import { loadSettings } from './settings.ts';

export const OVERLAY_PAGE = 'src/overlay/overlay.html';
export const WINDOW_PAGE = 'src/overlay/window.html';
export const PERMISSION_PAGE = 'src/permission/permission.html';

/** How long a call waits for its overlay to re-attach before it is ended. */
const PORTLESS_GRACE_MS = 20_000;
const BUFFER_LIMIT = 256;
/**
 * How long a live worker waits for a disconnected overlay to come back (re-mount) before it
 * ends the call and says bye for it.
 */
const REATTACH_GRACE_MS = 5000;
/** After a page says it is leaving: long enough for tabs.onRemoved to tell a closing tab. */
const LEAVING_SETTLE_MS = 300;

const sockets = new Map<string, RoomSocket>();
const ports = new Map<string, Port>();
/** Messages for an overlay whose port is not attached right now (e.g. during a restart). */
const inbox = new Map<string, BgToOverlay[]>();
/** Signals the overlay sent while the socket was reconnecting. */
const outbox = new Map<string, { to: string; data: unknown }[]>();
const portlessSince = new Map<string, number>();
const hangUpTimers = new Map<string, ReturnType<typeof setTimeout>>();
/** Calls whose re-mounted overlay waits for the socket's next `joined` (see the join handler). */
const rejoining = new Set<string>();
const workerStartedAt = Date.now();

const pageUrl = (path: string) => chrome.runtime.getURL(path);

function linkOf(call: CallRecord): ShareLink {
  return { server: call.server, room: call.room, secret: call.secret };
}

export function callLink(call: CallRecord): string {
  return formatCallLink(linkOf(call), call.media);
}

export function findCallForTab(tabId: number): Promise<CallRecord | undefined> {
  return findCall((c) => c.pageTabId === tabId || c.tabId === tabId);
}

// ---------- start / join ----------

export async function openCall(tabId: number, link: ShareLink, media: CallMedia): Promise<StartResult> {
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
  };
  await putCall(call);
  try {
    await chrome.scripting.executeScript({
      target: { tabId, frameIds: [0] },
      func: mountOverlay,
      args: [`${pageUrl(OVERLAY_PAGE)}#cap=${call.cap}`],
    });
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
      width: 440,
      height: 560,
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
  const port = ports.get(callId);
  if (port) {
    const released = new Promise<void>((resolve) => {
      port.onDisconnect.addListener(() => resolve());
      setTimeout(resolve, 2000);
    });
    port.postMessage({ type: 'detach' } satisfies BgToOverlay);
    await released;
  }
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
    await chrome.scripting.executeScript({
      target: { tabId, frameIds: [0] },
      func: mountOverlay,
      args: [`${pageUrl(OVERLAY_PAGE)}#cap=${moved.cap}`],
    });
  } catch {
    await openCallWindow(callId, 'restricted');
    return { ok: false, error: cannot };
  }
  return { ok: true };
}

// ---------- ending ----------

export async function endCall(callId: string): Promise<void> {
  const timer = hangUpTimers.get(callId);
  if (timer) clearTimeout(timer);
  hangUpTimers.delete(callId);
  rejoining.delete(callId);
  const socket = sockets.get(callId);
  if (socket) {
    // The overlay says bye itself when the person hangs up (and leaves the room first). When
    // it went away without one (tab closed, page navigated, a re-mount that never came back)
    // it kept our place in the room on purpose: tell the others the call is over from here.
    for (const peer of socket.peers) socket.send(peer, { kind: 'bye' } satisfies PeerSignal);
    socket.leave();
  }
  sockets.delete(callId);
  inbox.delete(callId);
  outbox.delete(callId);
  portlessSince.delete(callId);
  const port = ports.get(callId);
  ports.delete(callId);
  port?.disconnect();
  const call = await removeCall(callId);
  if (!call) return;
  if (call.host === 'overlay' && call.tabId !== null) await tellContent(call.tabId, { parley: 'remove' });
  if (call.host === 'window' && call.windowId !== undefined) {
    await chrome.windows.remove(call.windowId).catch(() => undefined);
  }
}

/** Hang up from the popup: let the overlay end the call itself (it says bye to the peer). */
export async function hangUp(callId: string): Promise<void> {
  const port = ports.get(callId);
  if (!port) return endCall(callId);
  port.postMessage({ type: 'hang-up' } satisfies BgToOverlay);
  // If the overlay does not report back, end it from here.
  hangUpTimers.set(
    callId,
    setTimeout(() => void endCall(callId), 3000),
  );
}

export async function endCallsInTab(tabId: number): Promise<void> {
  for (const call of await listCalls()) {
    if (call.tabId === tabId) await endCall(call.callId);
  }
}

// ---------- overlay ports ----------

function post(callId: string, message: BgToOverlay): void {
  const port = ports.get(callId);
  if (port) {
    port.postMessage(message);
    return;
  }
  const queue = inbox.get(callId) ?? [];
  if (queue.length < BUFFER_LIMIT) queue.push(message);
  inbox.set(callId, queue);
}

/** Is this port's sender the page the call was handed to (right page, right tab, right frame)? */
function senderMatches(port: Port, call: CallRecord): boolean {
  const sender = port.sender;
  if (!sender || !isOwnExtension(sender) || !sender.url || !sender.tab?.id) return false;
  const url = new URL(sender.url);
  const page = `${url.origin}${url.pathname}`;
  if (call.host === 'overlay') {
    return page === pageUrl(OVERLAY_PAGE) && sender.frameId !== 0 && sender.tab.id === call.tabId;
  }
  return (
    page === pageUrl(WINDOW_PAGE) && sender.frameId === 0 && (call.tabId ?? sender.tab.id) === sender.tab.id
  );
}

function infoOf(call: CallRecord): CallInfo {
  return {
    callId: call.callId,
    sessionKey: call.sessionKey,
    server: call.server,
    room: call.room,
    secret: call.secret,
    media: call.media,
    name: call.name,
    ...(call.connectedAt === undefined ? {} : { connectedAt: call.connectedAt }),
    ...(call.chat?.length ? { chat: call.chat } : {}),
  };
}

function attach(callId: string, port: Port): void {
  const previous = ports.get(callId);
  if (previous && previous !== port) previous.disconnect();
  ports.set(callId, port);
  portlessSince.delete(callId);
  const queued = inbox.get(callId) ?? [];
  inbox.delete(callId);
  for (const message of queued) port.postMessage(message);
}

export function acceptOverlayPort(port: Port): void {
  if (!port.sender || !isOwnExtension(port.sender)) {
    port.disconnect();
    return;
  }
  let callId: string | null = null;
  let chain: Promise<void> = Promise.resolve();
  const deny = () => {
    port.postMessage({ type: 'denied' } satisfies BgToOverlay);
    port.disconnect();
  };

  port.onMessage.addListener((raw: unknown) => {
    // Handle one message at a time: a claim must finish before the join that follows it.
    chain = chain.then(async () => {
      const message = parse(OverlayToBgSchema, raw);
      if (!message) return;
      if (callId === null) {
        if (message.type === 'claim') {
          let matched: CallRecord | undefined;
          const candidate = await findCall((c) => c.cap === message.cap);
          if (candidate && senderMatches(port, candidate)) {
            matched = await updateCall(candidate.callId, (c) =>
              c.capUsed || c.cap !== message.cap
                ? undefined
                : { ...c, capUsed: true, tabId: c.tabId ?? port.sender?.tab?.id ?? null },
            );
          }
          if (!matched) return deny();
          callId = matched.callId;
          // Anything queued was for the overlay document this one replaces (a re-mount): the
          // new one learns the room's state from the `joined` its join gets.
          inbox.delete(callId);
          attach(callId, port);
          port.postMessage({ type: 'call', call: infoOf(matched) } satisfies BgToOverlay);
          return;
        }
        if (message.type === 'resume') {
          const call = await getCall(message.callId);
          if (!call || call.sessionKey !== message.sessionKey || !senderMatches(port, call)) return deny();
          callId = call.callId;
          attach(callId, port);
          port.postMessage({ type: 'resumed' } satisfies BgToOverlay);
          if (call.joinRequested) ensureSocket(call);
          return;
        }
        return deny();
      }
      await onOverlayMessage(callId, message);
    });
  });

  port.onDisconnect.addListener(() => {
    if (callId !== null && ports.get(callId) === port) {
      const id = callId;
      ports.delete(id);
      portlessSince.set(id, Date.now());
      // An offer it parked with the server died with it: take it back.
      sockets.get(id)?.park(null);
      // The overlay's document is gone (tab navigated or reloaded, page deleted our frame); it
      // left without a bye and kept its place in the room. A re-mount claims a fresh
      // capability within moments and carries the call on; otherwise the call is over and
      // endCall says bye to the others for it. (A page that unloads tells us at once, see
      // pageLeft; a closed tab too, via tabs.onRemoved.)
      setTimeout(() => {
        if (!ports.has(id)) void endCall(id);
      }, REATTACH_GRACE_MS);
    }
  });
}

type OverlayMessage = NonNullable<ReturnType<typeof parse<typeof OverlayToBgSchema>>>;

const overlayHandlers = {
  async join(callId: string) {
    // Joined before, by an earlier overlay document: this one is a re-mount (the page deleted
    // the old one). The worker kept our place in the room (same peer id, the others were
    // told nothing), so the peers will not offer: the overlay offers to them at once.
    let rejoin = false;
    const call = await updateCall(callId, (c) => {
      rejoin = c.joinRequested;
      return { ...c, joinRequested: true };
    });
    if (!call) return;
    const socket = sockets.get(callId);
    if (socket?.isJoined && socket.lastJoined) {
      post(callId, { type: 'status', status: 'open' });
      post(callId, { type: 'joined', info: { ...joinedInfo(socket), ...(rejoin ? { rejoin } : {}) } });
      return;
    }
    if (rejoin) rejoining.add(callId);
    ensureSocket(call);
  },
  async send(callId: string, message: Extract<OverlayMessage, { type: 'send' }>) {
    const socket = sockets.get(callId);
    if (socket?.send(message.to, message.data)) return;
    const queue = outbox.get(callId) ?? [];
    if (queue.length < BUFFER_LIMIT) queue.push({ to: message.to, data: message.data });
    outbox.set(callId, queue);
  },
  async park(callId: string, message: Extract<OverlayMessage, { type: 'park' }>) {
    // Not kept for later: the overlay parks again on its next `joined`.
    sockets.get(callId)?.park(message.data);
  },
  async leave(callId: string) {
    sockets.get(callId)?.leave();
    sockets.delete(callId);
    await updateCall(callId, (c) => ({ ...c, joinRequested: false }));
  },
  async minimize(callId: string, message: Extract<OverlayMessage, { type: 'minimize' }>) {
    const call = await getCall(callId);
    if (call?.host === 'overlay' && call.tabId !== null) {
      await tellContent(call.tabId, { parley: 'minimize', minimized: message.minimized });
    }
  },
  async ended(callId: string) {
    await endCall(callId);
  },
  async connected(callId: string, message: Extract<OverlayMessage, { type: 'connected' }>) {
    // The first report counts; a time before the call existed or in the future is clamped.
    await updateCall(callId, (c) =>
      c.connectedAt !== undefined
        ? c
        : { ...c, connectedAt: Math.min(Date.now(), Math.max(c.createdAt, message.at)) },
    );
  },
  async 'chat-entries'(callId: string, message: Extract<OverlayMessage, { type: 'chat-entries' }>) {
    await updateCall(callId, (c) => ({
      ...c,
      chat: [...(c.chat ?? []), ...message.entries].slice(-CHAT_LOG_MAX),
    }));
  },
  async 'need-permission'(callId: string) {
    const call = await getCall(callId);
    if (!call) return;
    await chrome.tabs.create({
      url: `${pageUrl(PERMISSION_PAGE)}#call=${call.callId}&media=${call.media}`,
      active: true,
    });
  },
  async 'move-to-window'(callId: string, message: Extract<OverlayMessage, { type: 'move-to-window' }>) {
    const call = await getCall(callId);
    if (call?.host !== 'overlay') return;
    sockets.get(callId)?.leave();
    sockets.delete(callId);
    ports.get(callId)?.disconnect();
    ports.delete(callId);
    if (call.tabId !== null) await tellContent(call.tabId, { parley: 'remove' });
    await updateCall(callId, (c) => ({ ...c, joinRequested: false, resume: undefined }));
    await openCallWindow(callId, message.reason);
  },
} satisfies Record<string, (callId: string, message: never) => Promise<unknown>>;

async function onOverlayMessage(callId: string, message: OverlayMessage): Promise<void> {
  if (message.type === 'claim' || message.type === 'resume') return; // Only valid as the first message.
  const handler = overlayHandlers[message.type] as (
    callId: string,
    message: OverlayMessage,
  ) => Promise<unknown>;
  await handler(callId, message);
}

/** The permission page reports back: tell the overlay, and bring its tab to the front. */
export async function permissionResult(callId: string, granted: boolean): Promise<void> {
  const call = await getCall(callId);
  if (!call) return;
  post(callId, { type: 'permission', granted });
  if (call.tabId !== null) await chrome.tabs.update(call.tabId, { active: true }).catch(() => undefined);
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

// ---------- signaling sockets ----------

function joinedInfo(socket: RoomSocket) {
  const joined = socket.lastJoined!;
  return {
    room: joined.room,
    peerId: joined.peerId,
    peers: [...socket.peers],
    iceServers: joined.iceServers,
    capacity: joined.capacity,
    canPark: joined.features?.includes('park') ?? false,
  };
}

function ensureSocket(call: CallRecord): void {
  const existing = sockets.get(call.callId);
  if (existing && !existing.isStopped) return;
  const callId = call.callId;
  const socket = new RoomSocket(call.server, call.room, call.resume, {
    joined: (message) => {
      void updateCall(callId, (c) => ({
        ...c,
        resume: { peerId: message.peerId, token: message.resumeToken },
      }));
      const rejoin = rejoining.delete(callId);
      post(callId, { type: 'joined', info: { ...joinedInfo(socket), ...(rejoin ? { rejoin } : {}) } });
      const queued = outbox.get(callId) ?? [];
      outbox.delete(callId);
      for (const { to, data } of queued) socket.send(to, data);
    },
    message: (message) => {
      switch (message.type) {
        case 'peer-joined':
          return post(callId, {
            type: 'peer-joined',
            peerId: message.peerId,
            ...(message.parked ? { parked: true } : {}),
          });
        case 'peer-left':
          return post(callId, { type: 'peer-left', peerId: message.peerId });
        case 'signal':
          return post(callId, { type: 'signal', from: message.from, data: message.data });
        case 'error':
          return post(callId, { type: 'error', code: message.code, message: message.message });
      }
    },
    status: (status) => post(callId, { type: 'status', status }),
  });
  sockets.set(callId, socket);
  socket.connect();
}

/**
 * The watchdog (chrome.alarms, and once at worker start): revive sockets of live calls and
 * end calls whose overlay has been gone too long (tab navigated away, frame destroyed).
 */
export async function watchdog(): Promise<void> {
  const now = Date.now();
  for (const call of await listCalls()) {
    if (!ports.has(call.callId)) {
      const since = portlessSince.get(call.callId) ?? workerStartedAt;
      if (now - since > PORTLESS_GRACE_MS && (call.capUsed || now - call.createdAt > 60_000)) {
        await endCall(call.callId);
        continue;
      }
    }
    if (call.tabId !== null) {
      const tab = await chrome.tabs.get(call.tabId).catch(() => undefined);
      if (!tab) {
        await endCall(call.callId);
        continue;
      }
    }
    if (call.joinRequested) ensureSocket(call);
  }
}
