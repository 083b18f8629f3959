/**
 * The extension's way into a call, shared by the overlay iframe (overlay.ts) and the call
 * window fallback (window.ts). The page is web-accessible, so any website can frame it: it
 * does nothing until the service worker confirms the one-time capability from the URL
 * fragment (issued for this tab, for our overlay page, unused). Otherwise it stays inert:
 * one sentence, no camera, no join.
 */

import * as v from 'valibot';
import type { DescriptionAuth } from '../call/description-auth.ts';
import { IdentitySignedAuth } from '../call/identity-signed-auth.ts';
import { warmUpWebRtc } from '../call/warm-up.ts';
import { formatCallLink } from '../messaging/call-link.ts';
import {
  BgToOverlaySchema,
  type CallInfo,
  CHAT_LOG_MAX,
  type ChatEntry,
  type IdentityRequest,
  OVERLAY_PORT_NAME,
  parse,
  WINDOW_REASONS,
  type WindowReason,
} from '../messaging/messages.ts';
import { connectToBackground, type Port } from '../messaging/runtime.ts';
import { leaveFileWriters } from '../platform/overlay-sinks.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';
import { PUBLIC_KEY_PATTERN } from '../protocol/presence.ts';
import { type CallApp, mountCallApp } from './app.ts';
import type { ContactIdentity } from './contact-exchange.ts';
import { type OverlayControl, PortSignaling } from './port-signaling.ts';
import { canShareThisTab, restrictToPage } from './tab-share.ts';

export const INERT_TEXT = 'This Parley panel was not opened by you.';
const CAP_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

type Host = 'overlay' | 'window';

function sentence(root: HTMLElement, text: string): HTMLElement {
  const p = document.createElement('p');
  p.className = 'parley-sentence';
  p.setAttribute('role', 'status');
  p.textContent = text;
  root.append(p);
  return p;
}

function inert(root: HTMLElement): void {
  root.replaceChildren();
  sentence(root, INERT_TEXT);
}

/** Connect, present the capability, and wait for the call (or a refusal). */
function claim(cap: string): Promise<{ port: Port; call: CallInfo } | null> {
  return new Promise((resolve) => {
    let port: Port;
    try {
      port = connectToBackground(OVERLAY_PORT_NAME);
    } catch {
      resolve(null);
      return;
    }
    const onMessage = (raw: unknown) => {
      const message = parse(BgToOverlaySchema, raw);
      // Only the answer to the claim counts here.
      if (message?.type !== 'call' && message?.type !== 'denied') return;
      port.onMessage.removeListener(onMessage);
      port.onDisconnect.removeListener(onDisconnect);
      resolve(message.type === 'call' ? { port, call: message.call } : null);
    };
    const onDisconnect = () => resolve(null);
    port.onMessage.addListener(onMessage);
    port.onDisconnect.addListener(onDisconnect);
    port.postMessage({ type: 'claim', cap });
  });
}

/** Is the page's Permissions-Policy keeping camera or microphone from this frame? */
function blockedByPolicy(media: CallInfo['media']): boolean {
  const policy = (document as { featurePolicy?: { allowsFeature(feature: string): boolean } }).featurePolicy;
  if (!policy) return false;
  return !policy.allowsFeature('microphone') || (media === 'video' && !policy.allowsFeature('camera'));
}

async function permissionState(media: CallInfo['media']): Promise<'granted' | 'prompt' | 'denied'> {
  const names = media === 'video' ? ['microphone', 'camera'] : ['microphone'];
  try {
    const states = await Promise.all(
      names.map((name) => navigator.permissions.query({ name: name as PermissionName }).then((s) => s.state)),
    );
    if (states.includes('denied')) return 'denied';
    return states.every((s) => s === 'granted') ? 'granted' : 'prompt';
  } catch {
    return 'prompt';
  }
}

/** Try to open the devices once: in an iframe Chrome may refuse to prompt at all. */
async function probeDevices(media: CallInfo['media']): Promise<MediaStream | 'not-allowed' | 'other'> {
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
  } catch (error) {
    return (error as DOMException)?.name === 'NotAllowedError' ? 'not-allowed' : 'other';
  }
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // The page may not delegate clipboard-write to frames; execCommand still works on a click.
    const area = document.createElement('textarea');
    area.value = text;
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

/** The identity the contact panel uses: requests to the service worker over the call's port. */
function portIdentity(
  signaling: PortSignaling,
  replies: Map<number, (reply: unknown) => void>,
): ContactIdentity & { signCall(senderPeerId: string, sdp: string): Promise<string> } {
  let nextId = 1;
  const ask = <T>(request: IdentityRequest, shape: v.GenericSchema<unknown, T>): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      // The worker may restart meanwhile and lose the request: give up after a while.
      const timer = setTimeout(() => {
        replies.delete(id);
        reject(new Error('No answer from Parley.'));
      }, 10_000);
      replies.set(id, (reply) => {
        clearTimeout(timer);
        const parsed = v.safeParse(shape, reply);
        if (parsed.success) resolve(parsed.output);
        else reject(new Error('Parley could not do that.'));
      });
      signaling.post({ type: 'identity', id, request });
    });
  const Key = v.pipe(v.string(), v.regex(PUBLIC_KEY_PATTERN));
  const Ok = v.object({ ok: v.boolean() });
  return {
    selfKey: async () => (await ask({ kind: 'self' }, v.object({ key: Key }))).key,
    sign: (binding) =>
      ask({ kind: 'sign-contact', binding }, v.object({ key: Key, sig: v.string(), nonce: v.string() })),
    save: async (contact) => (await ask({ kind: 'save-contact', ...contact }, Ok)).ok,
    lookup: async (key) =>
      (
        await ask(
          { kind: 'lookup', key },
          v.object({ contact: v.nullable(v.object({ name: v.string(), verified: v.boolean() })) }),
        )
      ).contact,
    verified: async (key, match) => (await ask({ kind: 'verified', key, match }, Ok)).ok,
    async signCall(senderPeerId, sdp) {
      const request = { kind: 'sign-call', senderPeerId, sdp } as const;
      const Signed = v.object({ sig: v.string() });
      // A worker restarted meanwhile loses the request: ask the new one once more.
      try {
        return (await ask(request, Signed)).sig;
      } catch {
        return (await ask(request, Signed)).sig;
      }
    },
  };
}

/** A call between contacts is verified by both identity keys (no link secret). */
function contactCallAuth(call: CallInfo, contacts: ReturnType<typeof portIdentity>): DescriptionAuth | null {
  if (!call.contact) return null;
  return new IdentitySignedAuth({
    callId: call.contact.ringId,
    selfKey: call.contact.selfKey,
    peerKey: call.contact.key,
    peerName: cleanDisplayName(call.contact.name, 'Your contact'),
    sign: (senderId, sdp) => contacts.signCall(senderId, sdp),
  });
}

export async function runExtensionCall(host: Host, root: HTMLElement): Promise<void> {
  const params = new URLSearchParams(location.hash.slice(1));
  const cap = params.get('cap') ?? '';
  const why = params.get('why');
  // The capability is one-time; take it out of the URL (and the history) straight away.
  history.replaceState(null, '', location.pathname);
  if (!CAP_PATTERN.test(cap)) return inert(root);
  // A call window made ready while a ring rings: WebRTC starts while the claim waits for Accept.
  if (host === 'window' && why === 'answered') setTimeout(warmUpWebRtc, 0);
  const claimed = await claim(cap);
  if (!claimed) {
    // A call window made ready for a ring whose worker stopped meanwhile: nothing to show.
    if (host === 'window' && why === 'answered') window.close();
    return inert(root);
  }
  const { call } = claimed;

  let controlHandler: (message: OverlayControl) => void = () => {};
  const identityReplies = new Map<number, (reply: unknown) => void>();
  const signaling = new PortSignaling(claimed.port, call, (message) => {
    if (message.type !== 'identity-reply') return controlHandler(message);
    identityReplies.get(message.id)?.(message.reply);
    identityReplies.delete(message.id);
  });
  const contacts = portIdentity(signaling, identityReplies);

  if (host === 'window' && why && why in WINDOW_REASONS) {
    sentence(root, WINDOW_REASONS[why as WindowReason]).classList.add('parley-why');
  }

  if (host === 'overlay' && blockedByPolicy(call.media)) {
    sentence(root, 'This site blocks the camera here. Moving the call to its own window…');
    signaling.post({ type: 'move-to-window', reason: 'policy' });
    return;
  }

  // First camera/microphone use: the iframe may be unable to ask. Then a tab asks instead.
  let localStream: MediaStream | undefined;
  if (host === 'overlay' && (await permissionState(call.media)) === 'prompt') {
    const probe = await probeDevices(call.media);
    if (probe instanceof MediaStream) localStream = probe;
    if (probe === 'not-allowed') {
      const waiting = sentence(
        root,
        'Parley needs your permission to use the camera and microphone. Allow it in the tab that just opened.',
      );
      const granted = await new Promise<boolean>((resolve) => {
        controlHandler = (message) => {
          if (message.type === 'permission') resolve(message.granted);
          if (message.type === 'hang-up') resolve(false);
        };
        signaling.post({ type: 'need-permission' });
      });
      controlHandler = () => {};
      waiting.remove();
      if (!granted) {
        sentence(root, 'Parley may not use the camera and microphone, so the call cannot start.');
        signaling.post({ type: 'ended' });
        return;
      }
    }
  }

  const link = { server: call.server, room: call.room, secret: call.secret };
  let endedReported = false;
  let closeTimer: ReturnType<typeof setTimeout> | undefined;
  let app: CallApp | null = null;
  // The frame going away (tab closing or navigating, or the page deleting our host) must not
  // end the call: the content script re-mounts the overlay when the page deleted it, and the
  // new one carries the call on under the same peer id. So the overlay leaves without a bye
  // and keeps its place in the room (this listener runs before the engine's own, which would
  // hang up); the worker says bye for it if no overlay comes back within its grace period.
  // The call window has no re-mount: closing it hangs up as before.
  let unloading = false;
  addEventListener('pagehide', () => {
    unloading = true;
    flushChat();
    if (host !== 'overlay') return;
    leaveFileWriters();
    app?.session.detach();
    signaling.close();
  });
  const chatLines: ChatEntry[] = [];
  let chatFlushQueued = false;
  const flushChat = () => {
    chatFlushQueued = false;
    const entries = chatLines.splice(0).slice(-CHAT_LOG_MAX);
    if (entries.length > 0) signaling.post({ type: 'chat-entries', entries });
  };
  const reportEnded = () => {
    if (endedReported || unloading) return;
    endedReported = true;
    clearTimeout(closeTimer);
    signaling.post({ type: 'ended' });
  };
  const auth = contactCallAuth(call, contacts);
  app = mountCallApp(root, {
    signaling,
    link,
    ...(auth ? { auth } : {}),
    url: formatCallLink(link, call.media),
    media: call.media,
    localName: call.name,
    host: 'extension',
    ...(localStream ? { localStream } : {}),
    ...(call.connectedAt === undefined ? {} : { connectedAt: call.connectedAt }),
    ...(call.chat ? { chatHistory: call.chat } : {}),
    ...(call.calling === undefined ? {} : { calling: cleanDisplayName(call.calling, 'your contact') }),
    contacts,
    hooks: {
      onChatEntry(entry) {
        // Batched: a peer flooding the chat must not turn into a storage write per line.
        chatLines.push(entry);
        if (!chatFlushQueued) {
          chatFlushQueued = true;
          setTimeout(flushChat, 250);
        }
      },
      copyText,
      onFirstConnected(at: number) {
        if (call.connectedAt === undefined) signaling.post({ type: 'connected', at });
      },
      onMinimizeChange(minimized: boolean) {
        signaling.post({ type: 'minimize', minimized });
      },
      onEnded() {
        // Hanging up here removes the overlay at once. A call ended by the other side or the
        // network stays on its end screen a while (or until Close), so the person sees why.
        if (app?.session.status.reason === 'hangup') reportEnded();
        else closeTimer = setTimeout(reportEnded, 8000);
      },
      onClose: reportEnded,
      // On a page (not in the call window, which is not on a page): the page, without us.
      ...(host === 'overlay' && canShareThisTab() ? { restrictTabCapture: restrictToPage } : {}),
    },
  });
  const session = app.session;
  if (call.ringEnded !== undefined) session.endWith(call.ringEnded);
  controlHandler = (message) => {
    if (message.type === 'hang-up') session.hangUp();
    if (message.type === 'ring-ended') session.endWith(message.message);
    if (message.type === 'detach') {
      // Another page takes the call over (the worker closes this one next): no bye, no end.
      unloading = true;
      flushChat();
      leaveFileWriters();
      session.detach();
      signaling.close();
    }
  };
}
