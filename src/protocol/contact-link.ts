/**
 * Contact links: `<server>/c#k=<public key>&t=<token>&n=<name>`. The owner shares one (popup,
 * **Share my contact link**); whoever opens it with Parley installed is offered **Add
 * contact**, and both must accept before either can ring the other. The fragment never
 * reaches the server: it carries the owner's public key (pinned by the one who adds), a
 * one-time token (16 random bytes) and the owner's name as a hint.
 *
 * Both sides meet in a signaling room whose id derives from the token, and exchange sealed
 * messages there (AES-GCM under a key that also derives from the token, inside opaque
 * `signal`s): the server sees a room id and ciphertext, never the token, the keys, the names
 * or the pair-secret halves. Each side signs its half with its identity key (the texts below
 * name their purpose and the room), so the server, which lacks the token, can neither read
 * nor forge the exchange, and whoever holds the token still cannot pose as the owner.
 *
 *   requester → owner  request {key, name, nonce, sig}   (pressed Add contact on the link)
 *   owner → requester  received                          (the owner is being asked)
 *   owner → requester  accept {name, nonce, sig}         (pressed Add contact on the request)
 *                   or decline {reason}                  (Not now, or the token is used up)
 *
 * The two nonces give the same pair secret and mailboxes as a Save-contact exchange in a call
 * (src/identity/mailbox.ts). Validated here on both sides; the server only relays.
 */
import * as v from 'valibot';
import { MAX_NAME_LENGTH } from './peer-call.ts';
import { NONCE_PATTERN, PUBLIC_KEY_PATTERN, SIGNATURE_PATTERN } from './presence.ts';

/** 16 random bytes, base64url. */
export const LINK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{21}[AQgw]$/;
/** What marks a relayed signal as a contact-link message. */
export const CONTACT_LINK_SIGNAL = 'parley-contact-link-v1';
/** The sealed body may not be longer than this many base64url characters. */
export const MAX_SEALED_LENGTH = 2048;

const Key = v.pipe(v.string(), v.regex(PUBLIC_KEY_PATTERN));
const Name = v.pipe(v.string(), v.maxLength(MAX_NAME_LENGTH * 4));
const Nonce = v.pipe(v.string(), v.regex(NONCE_PATTERN));
const Signature = v.pipe(v.string(), v.regex(SIGNATURE_PATTERN));

export const ContactLinkSchema = v.strictObject({
  /** Origin (and optional path prefix) of the signaling server, no trailing slash. */
  server: v.string(),
  key: Key,
  token: v.pipe(v.string(), v.regex(LINK_TOKEN_PATTERN)),
  /** The owner's name when the link was made: a hint, shown as text, never trusted. */
  name: Name,
});
export type ContactLink = v.InferOutput<typeof ContactLinkSchema>;

export function formatContactLink(link: ContactLink): string {
  const fragment = new URLSearchParams({ k: link.key, t: link.token, n: link.name });
  return `${link.server}/c#${fragment.toString()}`;
}

/** Accepts `<server>/c#k=…&t=…&n=…` (http or https); null for anything else. */
export function parseContactLink(text: string): ContactLink | null {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const match = /^(.*)\/c\/?$/.exec(url.pathname);
  if (!match) return null;
  const params = new URLSearchParams(url.hash.slice(1));
  // One of each: a second `k` or `t` must not be able to hide behind the first.
  if (['k', 't', 'n'].some((name) => params.getAll(name).length > 1)) return null;
  const result = v.safeParse(ContactLinkSchema, {
    server: `${url.origin}${match[1] ?? ''}`,
    key: params.get('k') ?? '',
    token: params.get('t') ?? '',
    name: params.get('n') ?? '',
  });
  return result.success ? result.output : null;
}

/** What travels in a room `signal`: a sealed message (see the module comment). */
export const SealedSignalSchema = v.strictObject({
  t: v.literal(CONTACT_LINK_SIGNAL),
  /** The AES-GCM nonce: 12 bytes, base64url. */
  iv: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16}$/)),
  box: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]+$/), v.maxLength(MAX_SEALED_LENGTH)),
});
export type SealedSignal = v.InferOutput<typeof SealedSignalSchema>;

export const LinkRequestSchema = v.strictObject({
  kind: v.literal('request'),
  key: Key,
  name: Name,
  nonce: Nonce,
  sig: Signature,
});
export const LinkAcceptSchema = v.strictObject({
  kind: v.literal('accept'),
  name: Name,
  nonce: Nonce,
  sig: Signature,
});
/** The owner's worker has the request and is asking the owner (no answer yet). */
export const LinkReceivedSchema = v.strictObject({ kind: v.literal('received') });
export const LinkDeclineSchema = v.strictObject({
  kind: v.literal('decline'),
  /** `not-now`: the owner said Not now; `used`: this link was already used. */
  reason: v.picklist(['not-now', 'used']),
});
export const LinkMessageSchema = v.variant('kind', [
  LinkRequestSchema,
  LinkReceivedSchema,
  LinkAcceptSchema,
  LinkDeclineSchema,
]);
export type LinkMessage = v.InferOutput<typeof LinkMessageSchema>;
export type LinkRequest = v.InferOutput<typeof LinkRequestSchema>;
export type LinkAccept = v.InferOutput<typeof LinkAcceptSchema>;

/** What the requester signs: its key and pair-secret half, for this owner and this link's room. */
export function linkRequestText(room: string, ownerKey: string, requesterKey: string, nonce: string): string {
  return `parley-contact-link-v1|request|${room}|${ownerKey}|${requesterKey}|${nonce}`;
}

/** What the owner signs when accepting: both keys and both halves, for this link's room. */
export function linkAcceptText(
  room: string,
  ownerKey: string,
  requesterKey: string,
  ownerNonce: string,
  requesterNonce: string,
): string {
  return `parley-contact-link-v1|accept|${room}|${ownerKey}|${requesterKey}|${ownerNonce}|${requesterNonce}`;
}
