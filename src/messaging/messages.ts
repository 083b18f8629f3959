/**
 * Every runtime message inside the extension, named by direction (who may send what to
 * whom), with a valibot schema per direction. Each receiver validates on receipt: a
 * compromised or buggy context must not be able to make another one do something unplanned.
 *
 *   PopupToBg       popup → service worker (runtime.sendMessage)
 *   PermissionToBg  permission page → service worker (runtime.sendMessage)
 *   OverlayToBg     overlay iframe / call window → service worker (over its runtime Port)
 *   BgToOverlay     service worker → overlay (over the Port)
 *   BgToContent     service worker → the content script in the page (tabs.sendMessage)
 */
import * as v from 'valibot';
import { MAX_CHAT_TEXT } from '../protocol/peer-chat.ts';
import { CALL_ID_PATTERN, NONCE_PATTERN, PUBLIC_KEY_PATTERN } from '../protocol/presence.ts';
import { PEER_ID_PATTERN } from '../protocol/signaling.ts';

const TabId = v.pipe(v.number(), v.integer(), v.minValue(0));
const Token = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{22,64}$/));
const PeerId = v.pipe(v.string(), v.regex(PEER_ID_PATTERN));
const Media = v.picklist(['video', 'audio']);
const PublicKey = v.pipe(v.string(), v.regex(PUBLIC_KEY_PATTERN));
export type CallMedia = v.InferOutput<typeof Media>;

/** Display names: what a person types, trimmed and bounded. */
export const DisplayNameSchema = v.pipe(v.string(), v.trim(), v.maxLength(40));

// ---------- popup → background ----------

export const PopupToBgSchema = v.variant('type', [
  v.strictObject({ type: v.literal('get-state'), tabId: v.optional(TabId) }),
  v.strictObject({ type: v.literal('start-call'), tabId: TabId, media: Media }),
  v.strictObject({ type: v.literal('join-call'), tabId: TabId, link: v.pipe(v.string(), v.maxLength(2048)) }),
  v.strictObject({ type: v.literal('hang-up'), tabId: TabId }),
  /** The call from this tab runs in its own window: put it back in an overlay on this page. */
  v.strictObject({ type: v.literal('bring-call'), tabId: TabId }),
  v.strictObject({ type: v.literal('save-name'), name: DisplayNameSchema }),
  v.strictObject({ type: v.literal('save-settings'), server: v.pipe(v.string(), v.maxLength(2048)) }),
  /** The **Available for calls** switch. */
  v.strictObject({ type: v.literal('set-available'), available: v.boolean() }),
  /** **Call Ana** / **Audio call Ana**: ring a contact from this tab. */
  v.strictObject({ type: v.literal('ring-contact'), tabId: TabId, key: PublicKey, media: Media }),
  /** The ring card's **Accept** / **Decline**. */
  v.strictObject({
    type: v.literal('answer-ring'),
    callId: v.pipe(v.string(), v.regex(CALL_ID_PATTERN)),
    answer: v.picklist(['accept', 'decline']),
  }),
  /** **Dismiss** under the rings refused because a contact's key changed. */
  v.strictObject({ type: v.literal('dismiss-refused') }),
  /** **Rename**, **Remove**, **Block** / **Unblock** on a contact. */
  v.strictObject({
    type: v.literal('contact-action'),
    key: PublicKey,
    action: v.picklist(['rename', 'remove', 'block', 'unblock']),
    name: v.optional(v.pipe(DisplayNameSchema, v.minLength(1))),
  }),
]);
export type PopupToBg = v.InferOutput<typeof PopupToBgSchema>;

/** What the popup shows about the tab it was opened on. */
export interface ActiveCallView {
  /** Null for a call with a contact (a ring): keys verify it, no link can join it. */
  link: string | null;
  /** The contact, for a call that began as a ring. */
  contact?: string;
  media: CallMedia;
  /** Where the call runs: the overlay on this page, or its own window. */
  host: 'overlay' | 'window';
}

/** A contact as the popup lists it (never the pair secret). */
export interface ContactView {
  key: string;
  name: string;
  /** Four groups of five digits. */
  fingerprint: string;
  verified: boolean;
  blocked: boolean;
  /** Their presence socket holds our ring mailbox right now. */
  online: boolean;
}

export interface PopupState {
  name: string;
  server: string;
  call: ActiveCallView | null;
  /** Your identity: the public key's readable fingerprint (null if WebCrypto failed). */
  fingerprint: string | null;
  /** The **Available for calls** switch as it is (the default applied). */
  available: boolean;
  presence: 'off' | 'connecting' | 'online';
  contacts: ContactView[];
  /** Contacts calling now (the ring cards). */
  rings: RingView[];
  /** The newest missed calls first. */
  missed: MissedView[];
  /** Rings refused because a contact's key changed, newest first (until dismissed). */
  refused: RefusedView[];
}

export interface RefusedView {
  /** The contact whose mailbox was rung by a key other than theirs. */
  name: string;
  /** Milliseconds since the epoch. */
  at: number;
}

export interface RingView {
  callId: string;
  name: string;
  media: CallMedia;
}

export interface MissedView {
  name: string;
  media: CallMedia;
  /** Milliseconds since the epoch. */
  at: number;
}

/** Answer to start/join: the link to copy, or a sentence saying what went wrong. */
export type StartResult =
  | { ok: true; link: string; host: 'overlay' | 'window'; notice?: string }
  | { ok: false; error: string };

export type SimpleResult = { ok: true } | { ok: false; error: string };

/** Replies the background gives to each popup message. */
export interface PopupReplies {
  'get-state': PopupState;
  'start-call': StartResult;
  'join-call': StartResult;
  'hang-up': SimpleResult;
  'bring-call': SimpleResult;
  'save-name': SimpleResult;
  'save-settings': SimpleResult & { server?: string };
  'set-available': SimpleResult;
  'ring-contact': StartResult;
  'answer-ring': SimpleResult;
  'dismiss-refused': SimpleResult;
  'contact-action': SimpleResult;
}

/** Why a call runs in its own window instead of the overlay: one sentence for the person. */
export const WINDOW_REASONS = {
  restricted: 'Parley cannot run on this page, so the call opened in its own window.',
  policy: 'This site blocks the camera in embedded frames, so the call opened in its own window.',
  navigated: 'You left the page the call was on, so the call moved to its own window.',
  answered:
    'You answered a call. To move it onto a page, open Parley there and choose Move the call to this page.',
} as const;
export type WindowReason = keyof typeof WINDOW_REASONS;

// ---------- permission page → background ----------

export const PermissionToBgSchema = v.variant('type', [
  v.strictObject({ type: v.literal('permission-result'), callId: Token, granted: v.boolean() }),
]);
export type PermissionToBg = v.InferOutput<typeof PermissionToBgSchema>;

/** A line of a call's chat, kept by the service worker for the call's next overlay. */
export const ChatEntrySchema = v.strictObject({
  kind: v.picklist(['message', 'event']),
  text: v.pipe(v.string(), v.maxLength(MAX_CHAT_TEXT + 1000)),
  at: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  who: v.optional(v.pipe(v.string(), v.maxLength(200))),
  mine: v.optional(v.boolean()),
});
export type ChatEntry = v.InferOutput<typeof ChatEntrySchema>;
/** How many chat lines the service worker keeps per call (the newest). */
export const CHAT_LOG_MAX = 200;

// ---------- overlay → background (Port) ----------

const RequestId = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const Sdp = v.pipe(v.string(), v.maxLength(32_768));
const Nonce32 = v.pipe(v.string(), v.regex(NONCE_PATTERN));

/** What the overlay asks of the profile's identity (Save contact, Verify). */
export const IdentityRequestSchema = v.variant('kind', [
  /** Our public key. Reply: `{ key }`. */
  v.strictObject({ kind: v.literal('self') }),
  /** Sign our side of a contact binding. Reply: `{ key, sig, nonce }` (our pair-secret half). */
  v.strictObject({
    kind: v.literal('sign-contact'),
    binding: v.strictObject({
      callId: v.pipe(v.string(), v.maxLength(64)),
      signerPeerId: PeerId,
      signerSdp: Sdp,
      otherSdp: Sdp,
    }),
  }),
  /** Both agreed: save. Reply: `{ ok }`. */
  v.strictObject({
    kind: v.literal('save-contact'),
    key: PublicKey,
    name: v.pipe(v.string(), v.maxLength(200)),
    ownNonce: Nonce32,
    theirNonce: Nonce32,
  }),
  /** Is this key a contact? Reply: `{ contact: { name, verified } | null }`. */
  v.strictObject({ kind: v.literal('lookup'), key: PublicKey }),
  /** The SAS matched (or did not). Reply: `{ ok }`. */
  v.strictObject({ kind: v.literal('verified'), key: PublicKey, match: v.boolean() }),
  /**
   * A call between contacts: sign our description (src/call/identity-signed-auth.ts). The
   * worker adds the ring's call id and the contact's key from its own record of this call.
   * Reply: `{ sig }`.
   */
  v.strictObject({ kind: v.literal('sign-call'), senderPeerId: PeerId, sdp: Sdp }),
]);
export type IdentityRequest = v.InferOutput<typeof IdentityRequestSchema>;

export const OVERLAY_PORT_NAME = 'parley-overlay';

export const OverlayToBgSchema = v.variant('type', [
  /** First message on a fresh overlay: the one-time capability from the URL fragment. */
  v.strictObject({ type: v.literal('claim'), cap: Token }),
  /** First message on a reconnected port (service worker restarted): the per-call session key. */
  v.strictObject({ type: v.literal('resume'), callId: Token, sessionKey: Token }),
  v.strictObject({ type: v.literal('join') }),
  v.strictObject({ type: v.literal('send'), to: PeerId, data: v.unknown() }),
  /** Park (or, with null, take back) a message for the next peer to join: `Signaling.park`. */
  v.strictObject({ type: v.literal('park'), data: v.unknown() }),
  v.strictObject({ type: v.literal('leave') }),
  v.strictObject({ type: v.literal('minimize'), minimized: v.boolean() }),
  /**
   * The call first connected at this time (ms since the epoch): an overlay re-mounted later
   * (the page deleted the old one) carries the call timer on from it.
   */
  v.strictObject({ type: v.literal('connected'), at: v.pipe(v.number(), v.safeInteger(), v.minValue(0)) }),
  /**
   * New chat lines (batched, at most a few posts a second however fast a peer writes): kept
   * with the call so that a re-mounted overlay or the call window shows them.
   */
  v.strictObject({
    type: v.literal('chat-entries'),
    entries: v.pipe(v.array(ChatEntrySchema), v.minLength(1), v.maxLength(CHAT_LOG_MAX)),
  }),
  /** The call is over (hung up here or there, or lost): unregister and remove the overlay. */
  v.strictObject({ type: v.literal('ended') }),
  /** The iframe cannot ask for camera/microphone: open the permission page in a tab. */
  v.strictObject({ type: v.literal('need-permission') }),
  /** The page's Permissions-Policy blocks the camera here: move the call to its own window. */
  v.strictObject({ type: v.literal('move-to-window'), reason: v.picklist(['policy']) }),
  /** Ask the worker's identity (answered with `identity-reply` and the same id). */
  v.strictObject({ type: v.literal('identity'), id: RequestId, request: IdentityRequestSchema }),
]);
export type OverlayToBg = v.InferOutput<typeof OverlayToBgSchema>;

// ---------- background → overlay (Port) ----------

const IceServerSchema = v.object({
  urls: v.union([v.string(), v.array(v.string())]),
  username: v.optional(v.string()),
  credential: v.optional(v.string()),
});

export const CallInfoSchema = v.strictObject({
  callId: Token,
  sessionKey: Token,
  server: v.string(),
  room: v.string(),
  secret: v.string(),
  media: Media,
  name: v.string(),
  /** When the call first connected (ms since the epoch), if it has. */
  connectedAt: v.optional(v.number()),
  /** The chat so far (an earlier overlay of this call). */
  chat: v.optional(v.pipe(v.array(ChatEntrySchema), v.maxLength(CHAT_LOG_MAX))),
  /** We are ringing this contact: "Calling Ana…" instead of the share link. */
  calling: v.optional(v.string()),
  /** That ring already ended unanswered: show why and end. */
  ringEnded: v.optional(v.pipe(v.string(), v.maxLength(300))),
  /**
   * A call between contacts (it began as a ring): verified by both identity keys, not by the
   * link secret. `ringId` is the invite's call id; `key` the contact's pinned key.
   */
  contact: v.optional(
    v.strictObject({
      ringId: v.pipe(v.string(), v.regex(CALL_ID_PATTERN)),
      key: PublicKey,
      selfKey: PublicKey,
      name: v.pipe(v.string(), v.maxLength(200)),
    }),
  ),
});
export type CallInfo = v.InferOutput<typeof CallInfoSchema>;

export const BgToOverlaySchema = v.variant('type', [
  v.strictObject({ type: v.literal('call'), call: CallInfoSchema }),
  v.strictObject({ type: v.literal('denied') }),
  v.strictObject({ type: v.literal('resumed') }),
  v.strictObject({
    type: v.literal('joined'),
    info: v.strictObject({
      room: v.string(),
      peerId: PeerId,
      peers: v.array(PeerId),
      iceServers: v.array(IceServerSchema),
      capacity: v.number(),
      /** A re-mounted overlay joining a room the worker kept it in: offer to the peers at once. */
      rejoin: v.optional(v.boolean()),
      /** The server keeps a parked message for the next joiner. */
      canPark: v.optional(v.boolean()),
    }),
  }),
  /** `parked`: our parked message went to this peer. */
  v.strictObject({ type: v.literal('peer-joined'), peerId: PeerId, parked: v.optional(v.boolean()) }),
  v.strictObject({ type: v.literal('peer-left'), peerId: PeerId }),
  v.strictObject({ type: v.literal('signal'), from: PeerId, data: v.unknown() }),
  v.strictObject({
    type: v.literal('status'),
    status: v.picklist(['connecting', 'open', 'reconnecting', 'closed']),
  }),
  v.strictObject({ type: v.literal('error'), code: v.string(), message: v.string() }),
  /** The person pressed Hang up in the popup. */
  v.strictObject({ type: v.literal('hang-up') }),
  /**
   * The call moves to another page (the popup's "Move the call to this page"): leave without
   * a bye and keep our place in the room, as a page that deleted the overlay would make us.
   */
  v.strictObject({ type: v.literal('detach') }),
  v.strictObject({ type: v.literal('permission'), granted: v.boolean() }),
  /** Our ring ended unanswered (declined, busy, no answer, offline): say it and end. */
  v.strictObject({ type: v.literal('ring-ended'), message: v.pipe(v.string(), v.maxLength(300)) }),
  /** The answer to an `identity` request (the overlay checks its shape per request). */
  v.strictObject({ type: v.literal('identity-reply'), id: RequestId, reply: v.unknown() }),
]);
export type BgToOverlay = v.InferOutput<typeof BgToOverlaySchema>;

// ---------- background → content script ----------
// The content script is a self-contained function (src/content/mount-overlay.ts) and checks
// these shapes by hand to stay tiny; they are listed here so the sender is typed.
export type BgToContent = { parley: 'remove' } | { parley: 'minimize'; minimized: boolean };

export function parse<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> | null {
  const result = v.safeParse(schema, input);
  return result.success ? result.output : null;
}
