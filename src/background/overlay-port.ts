/**
 * The runtime port of each overlay document (in a page or the call window): who may attach to
 * a call (a one-time capability, or the session key after a worker restart, from our overlay
 * page in the right tab and frame), and what an attached overlay may ask, one handler per
 * message. The room's traffic flows through the call's `LiveCall`.
 */
import {
  type BgToOverlay,
  type CallInfo,
  CHAT_LOG_MAX,
  OverlayToBgSchema,
  parse,
} from '../messaging/messages.ts';
import { isOwnExtension, type Port, tellContent } from '../messaging/runtime.ts';
import { type CallRecord, findCall, getCall, updateCall } from './call-registry.ts';
import { endCall } from './calls.ts';
import { profileIdentity } from './identity.ts';
import { answerIdentityRequest } from './identity-requests.ts';
import { liveCalls } from './live-call.ts';
import { OVERLAY_PAGE, openCallWindow, PERMISSION_PAGE, pageUrl, WINDOW_PAGE } from './placement.ts';
import { claimWhileRinging } from './ring-window.ts';

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

async function infoOf(call: CallRecord): Promise<CallInfo> {
  const contact = call.ring
    ? {
        ringId: call.ring.callId,
        key: call.ring.contactKey,
        selfKey: (await profileIdentity()).publicKey,
        name: call.ring.peerName,
      }
    : undefined;
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
    ...(call.ring?.direction === 'out' ? { calling: call.ring.peerName } : {}),
    ...(call.ring?.ended === undefined ? {} : { ringEnded: call.ring.ended }),
    ...(contact ? { contact } : {}),
  };
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
          // A call window made ready while a ring rings waits here for Accept (./ring-window.ts).
          const candidate =
            (await findCall((c) => c.cap === message.cap)) ?? (await claimWhileRinging(message.cap, port));
          if (candidate && senderMatches(port, candidate)) {
            matched = await updateCall(candidate.callId, (c) =>
              c.capUsed || c.cap !== message.cap
                ? undefined
                : { ...c, capUsed: true, tabId: c.tabId ?? port.sender?.tab?.id ?? null },
            );
          }
          if (!matched) return deny();
          callId = matched.callId;
          liveCalls.of(callId).attach(port, true);
          port.postMessage({ type: 'call', call: await infoOf(matched) } satisfies BgToOverlay);
          return;
        }
        if (message.type === 'resume') {
          const call = await getCall(message.callId);
          if (!call || call.sessionKey !== message.sessionKey || !senderMatches(port, call)) return deny();
          callId = call.callId;
          const live = liveCalls.of(callId);
          live.attach(port, false);
          port.postMessage({ type: 'resumed' } satisfies BgToOverlay);
          if (call.joinRequested) live.ensureRoom(call);
          return;
        }
        return deny();
      }
      // An identity request (a signature: storage and WebCrypto) answers by its own id, so it
      // does not hold up the messages behind it, such as the description it was signed for.
      if (message.type === 'identity') void onOverlayMessage(callId, message);
      else await onOverlayMessage(callId, message);
    });
  });

  port.onDisconnect.addListener(() => {
    if (callId === null) return;
    const id = callId;
    // (A page that unloads tells us at once, see pageLeft; a closed tab too, via tabs.onRemoved.)
    liveCalls.get(id)?.overlayGone(port, () => void endCall(id));
  });
}

type OverlayMessage = NonNullable<ReturnType<typeof parse<typeof OverlayToBgSchema>>>;

const overlayHandlers = {
  async join(callId: string) {
    // Joined before, by an earlier overlay document: this one is a re-mount.
    let rejoin = false;
    const call = await updateCall(callId, (c) => {
      rejoin = c.joinRequested;
      return { ...c, joinRequested: true };
    });
    if (call) liveCalls.get(callId)?.join(call, rejoin);
  },
  async send(callId: string, message: Extract<OverlayMessage, { type: 'send' }>) {
    liveCalls.get(callId)?.send(message.to, message.data);
  },
  async park(callId: string, message: Extract<OverlayMessage, { type: 'park' }>) {
    liveCalls.get(callId)?.park(message.data);
  },
  async leave(callId: string) {
    liveCalls.get(callId)?.leaveRoom();
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
    const live = liveCalls.get(callId);
    live?.leaveRoom();
    live?.dropOverlay();
    if (call.tabId !== null) await tellContent(call.tabId, { parley: 'remove' });
    await updateCall(callId, (c) => ({ ...c, joinRequested: false, resume: undefined }));
    await openCallWindow(callId, message.reason);
  },
  async identity(callId: string, message: Extract<OverlayMessage, { type: 'identity' }>) {
    const reply = await answerIdentityRequest(message.request, callId).catch(() => null);
    liveCalls.get(callId)?.post({ type: 'identity-reply', id: message.id, reply });
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
  liveCalls.of(callId).post({ type: 'permission', granted });
  if (call.tabId !== null) await chrome.tabs.update(call.tabId, { active: true }).catch(() => undefined);
}
