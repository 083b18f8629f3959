/**
 * Presence and ringing on the signaling socket, shared by the server (server/presence*.ts)
 * and the extension (src/identity/ signs and checks what these messages carry). The prose
 * version, with the flow and the error codes, is docs/protocol.md "Presence and rings".
 *
 * The flow: the client asks for a `challenge`, signs
 * `parley-presence-v1|<server origin>|<nonce>|<public key>` with its identity key and sends
 * `register`; from then on the connection speaks for that key. It lists its `mailboxes` (one
 * per contact, see src/identity/mailbox.ts), and may `ring` a contact's mailbox with an invite
 * it signed. Either side ends a ring with a `ring-answer`.
 *
 * Every string that is signed is built here, so the server and the extension cannot disagree
 * on a byte of it, and each one names its purpose (and the presence proof the server origin),
 * so a signature made for one thing is never valid for another.
 */
import * as v from 'valibot';
import { PROTOCOL_VERSION, ROOM_ID_PATTERN } from './signaling.ts';

/**
 * Canonical base64url (no padding) of exactly N bytes: the last character may only carry the
 * bits that belong to the value, so every value has one text form and can be compared as text.
 */
function exactBase64Url(bytes: number): RegExp {
  const full = Math.floor((bytes * 8) / 6);
  const spare = (bytes * 8) % 6;
  const last = spare === 0 ? '' : spare === 4 ? '[AEIMQUYcgkosw048]' : '[AQgw]';
  return new RegExp(`^[A-Za-z0-9_-]{${full}}${last}$`);
}

/** An Ed25519 public key: the raw 32 bytes, base64url (43 characters). It is the identity. */
export const PUBLIC_KEY_PATTERN = exactBase64Url(32);
/** An Ed25519 signature: 64 bytes, base64url (86 characters). */
export const SIGNATURE_PATTERN = exactBase64Url(64);
/** A server challenge: 32 random bytes, base64url. */
export const NONCE_PATTERN = exactBase64Url(32);
/** A mailbox id: 16 bytes, base64url (see mailboxIdInput). */
export const MAILBOX_ID_PATTERN = exactBase64Url(16);
/** A mailbox tag: 32 bytes (an HMAC), base64url; proves nothing alone, see mailboxIdInput. */
export const MAILBOX_TAG_PATTERN = exactBase64Url(32);
/** A call id: 16 random bytes, base64url, made by the caller for one ring. */
export const CALL_ID_PATTERN = exactBase64Url(16);

/** An invite is valid for at most this long after it is made (the callee checks the expiry). */
export const MAX_INVITE_LIFETIME_MS = 60_000;
/** How far ahead of the checker's clock an expiry may be beyond the lifetime (clock drift). */
export const INVITE_CLOCK_SKEW_MS = 5_000;
/** A challenge is good for one `register`, within this long after it was issued. */
export const CHALLENGE_TTL_MS = 30_000;
/** Mailboxes one connection may hold: one per contact. */
export const MAX_MAILBOXES = 500;

/** The text a client signs to register presence (see the module comment). */
export function presenceProofText(serverOrigin: string, nonce: string, publicKey: string): string {
  return `parley-presence-v1|${serverOrigin}|${nonce}|${publicKey}`;
}

/**
 * A mailbox id is the first 16 bytes of SHA-256 over this text, base64url. `tag` is an HMAC
 * of the secret the two contacts share (src/identity/mailbox.ts), so only they can compute the
 * id; `ownerKey` is in it, so only the owner of that key can register it: the server recomputes
 * the id from the registered key and the tag.
 */
export function mailboxIdInput(ownerKey: string, tag: string): string {
  return `parley-mailbox-v1|${ownerKey}|${tag}`;
}

export const RING_MEDIA = ['video', 'audio'] as const;
export type RingMedia = (typeof RING_MEDIA)[number];

const Key = v.pipe(v.string(), v.regex(PUBLIC_KEY_PATTERN));
const Signature = v.pipe(v.string(), v.regex(SIGNATURE_PATTERN));
const MailboxId = v.pipe(v.string(), v.regex(MAILBOX_ID_PATTERN));
const CallId = v.pipe(v.string(), v.regex(CALL_ID_PATTERN));
const Version = v.literal(PROTOCOL_VERSION);

/**
 * A ring invite, signed by the caller's identity key over `inviteText`. The callee drops it
 * unless the key is a contact's pinned key, the mailbox is the one it keeps for that contact,
 * it has not expired (and expires within MAX_INVITE_LIFETIME_MS) and the call id is new.
 */
export const InviteSchema = v.strictObject({
  /** The caller's public key. */
  caller: Key,
  /** The callee's mailbox for this caller. */
  mailbox: MailboxId,
  callId: CallId,
  /** The signaling room both join once the callee accepts. */
  room: v.pipe(v.string(), v.regex(ROOM_ID_PATTERN)),
  media: v.picklist(RING_MEDIA),
  /** Milliseconds since the epoch after which the invite is void. */
  expires: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  sig: Signature,
});
export type Invite = v.InferOutput<typeof InviteSchema>;
export type UnsignedInvite = Omit<Invite, 'sig'>;

export function inviteText(invite: UnsignedInvite): string {
  return `parley-invite-v1|${invite.caller}|${invite.mailbox}|${invite.callId}|${invite.room}|${invite.media}|${invite.expires}`;
}

/**
 * How a ring ends. From the callee: `accept`, `decline`, `busy` (already in a call),
 * `no-answer` (rang for 30 s). From the caller: `cancel`. The server itself sends `no-answer`
 * to the caller when the callee's connection goes or the invite expires unanswered.
 */
export const RING_ANSWERS = ['accept', 'decline', 'busy', 'no-answer', 'cancel'] as const;
export type RingAnswer = (typeof RING_ANSWERS)[number];

// ---------- client → server ----------

/** Ask for a fresh challenge (each one is good for one `register`, for CHALLENGE_TTL_MS). */
export const ChallengeRequestSchema = v.strictObject({ v: Version, type: v.literal('challenge') });

/** Sign in as `key`: `signature` is over presenceProofText(server origin, nonce, key). */
export const RegisterSchema = v.strictObject({
  v: Version,
  type: v.literal('register'),
  key: Key,
  signature: Signature,
});

/** The full set of mailboxes this connection receives rings for (replaces the previous set). */
export const MailboxesSchema = v.strictObject({
  v: Version,
  type: v.literal('mailboxes'),
  tags: v.pipe(v.array(v.pipe(v.string(), v.regex(MAILBOX_TAG_PATTERN))), v.maxLength(MAX_MAILBOXES)),
});

/** Ring the mailbox named in the invite; `invite.caller` must be the registered key. */
export const RingOutSchema = v.strictObject({ v: Version, type: v.literal('ring'), invite: InviteSchema });

/**
 * Watch contacts' mailboxes (our *outboxes*: where we would ring them): the server answers
 * `watching` with those that are online now and sends `presence` when one comes or goes.
 * Replaces the previous set; at most MAX_MAILBOXES. Only the two contacts can compute a
 * mailbox id, so a stranger cannot watch anyone.
 */
export const WatchSchema = v.strictObject({
  v: Version,
  type: v.literal('watch'),
  mailboxes: v.pipe(v.array(MailboxId), v.maxLength(MAX_MAILBOXES)),
});

export const RingAnswerSchema = v.strictObject({
  v: Version,
  type: v.literal('ring-answer'),
  callId: CallId,
  answer: v.picklist(RING_ANSWERS),
});

export const PresenceClientMessageSchema = v.variant('type', [
  ChallengeRequestSchema,
  RegisterSchema,
  MailboxesSchema,
  RingOutSchema,
  RingAnswerSchema,
  WatchSchema,
]);
export type PresenceClientMessage = v.InferOutput<typeof PresenceClientMessageSchema>;
export type RegisterMessage = v.InferOutput<typeof RegisterSchema>;
export type MailboxesMessage = v.InferOutput<typeof MailboxesSchema>;
export type RingOutMessage = v.InferOutput<typeof RingOutSchema>;
export type RingAnswerMessage = v.InferOutput<typeof RingAnswerSchema>;
export type WatchMessage = v.InferOutput<typeof WatchSchema>;

export const PRESENCE_CLIENT_TYPES: ReadonlySet<string> = new Set([
  'challenge',
  'register',
  'mailboxes',
  'ring',
  'ring-answer',
  'watch',
]);

// ---------- server → client ----------

export const ChallengeSchema = v.strictObject({
  v: Version,
  type: v.literal('challenge'),
  nonce: v.pipe(v.string(), v.regex(NONCE_PATTERN)),
});

/**
 * Presence is registered (after `register`, and after every `mailboxes`): the key, the
 * mailbox ids the server computed from the tags, and the server's clock (ms since the epoch),
 * so a client can make and check invite expiries on a clock both sides share.
 */
export const RegisteredSchema = v.strictObject({
  v: Version,
  type: v.literal('registered'),
  key: Key,
  mailboxes: v.array(MailboxId),
  now: v.number(),
});

/** A ring for one of this connection's mailboxes: check the invite before showing anything. */
export const RingInSchema = v.strictObject({ v: Version, type: v.literal('ring'), invite: InviteSchema });

/** To the caller: the callee's mailbox is online and the invite went to it, or it is not. */
export const RingStatusSchema = v.strictObject({
  v: Version,
  type: v.literal('ring-status'),
  callId: CallId,
  status: v.picklist(['ringing', 'offline']),
});

/** Answer to `watch`: which of the watched mailboxes are online now. */
export const WatchingSchema = v.strictObject({
  v: Version,
  type: v.literal('watching'),
  online: v.pipe(v.array(MailboxId), v.maxLength(MAX_MAILBOXES)),
});

/** A watched mailbox came online or went offline. */
export const PresenceChangeSchema = v.strictObject({
  v: Version,
  type: v.literal('presence'),
  mailbox: MailboxId,
  online: v.boolean(),
});

export const PresenceServerMessageSchema = v.variant('type', [
  ChallengeSchema,
  WatchingSchema,
  PresenceChangeSchema,
  RegisteredSchema,
  RingInSchema,
  RingStatusSchema,
  // A ring answer is forwarded as it was sent: the same shape in both directions.
  RingAnswerSchema,
]);
export type PresenceServerMessage = v.InferOutput<typeof PresenceServerMessageSchema>;

/** Parse a text frame as a presence message from the server; null for anything else. */
export function parsePresenceServerMessage(text: string): PresenceServerMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const result = v.safeParse(PresenceServerMessageSchema, raw);
  return result.success ? result.output : null;
}
