/**
 * Saving each other as contacts, on the call's control data channel (DTLS-encrypted: the
 * server never sees these). Only the extension has an identity to offer, so only it says
 * `contact-hello`; a guest page that hears one says what installing Parley would add.
 *
 *   A → B  contact-hello {key}                    (each extension side, on every new connection)
 *   A → B  contact-offer {…, reply: false}        (A pressed Save contact)
 *   B → A  contact-offer {…, reply: true}         (B pressed Save contact too: both save)
 *       or contact-not-now                        (B pressed Not now)
 *
 * `sig` is the identity key's signature over the contact binding
 * (src/identity/binding.ts: call id, the signer's peer id, both DTLS fingerprints, its key);
 * `nonce` is the sender's half of the pair secret (src/identity/mailbox.ts).
 */
import * as v from 'valibot';
import { MAX_NAME_LENGTH } from './peer-call.ts';
import { NONCE_PATTERN, PUBLIC_KEY_PATTERN, SIGNATURE_PATTERN } from './presence.ts';
import { PEER_ID_PATTERN } from './signaling.ts';

const Key = v.pipe(v.string(), v.regex(PUBLIC_KEY_PATTERN));

export const ContactHelloSchema = v.strictObject({ t: v.literal('contact-hello'), key: Key });
export const ContactOfferSchema = v.strictObject({
  t: v.literal('contact-offer'),
  name: v.pipe(v.string(), v.maxLength(MAX_NAME_LENGTH * 4)),
  key: Key,
  /** 32 random bytes, base64url (same form as a server nonce). */
  nonce: v.pipe(v.string(), v.regex(NONCE_PATTERN)),
  peerId: v.pipe(v.string(), v.regex(PEER_ID_PATTERN)),
  sig: v.pipe(v.string(), v.regex(SIGNATURE_PATTERN)),
  reply: v.boolean(),
});
export const ContactNotNowSchema = v.strictObject({ t: v.literal('contact-not-now') });

export const ContactMessageSchema = v.variant('t', [
  ContactHelloSchema,
  ContactOfferSchema,
  ContactNotNowSchema,
]);
export type ContactMessage = v.InferOutput<typeof ContactMessageSchema>;
export type ContactOffer = v.InferOutput<typeof ContactOfferSchema>;

export const CONTACT_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  'contact-hello',
  'contact-offer',
  'contact-not-now',
]);
