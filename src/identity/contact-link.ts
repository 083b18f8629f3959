/**
 * The cryptography of a contact link (the protocol is src/protocol/contact-link.ts): from the
 * one-time token, the room both sides meet in and the AES-GCM key their messages are sealed
 * with; sealing and opening; the signed halves of the pair secret.
 *
 *   room = base64url(first 16 bytes of SHA-256("parley-contact-link-v1|room|" + token))
 *   key  = SHA-256("parley-contact-link-v1|key|" + token)        (AES-256-GCM)
 *   box  = AES-GCM(key, iv = 12 random bytes, additional data = room, JSON message)
 *
 * The server sees the room id; SHA-256 does not give the token back, so it can neither open
 * nor make a box.
 */
import * as v from 'valibot';
import {
  CONTACT_LINK_SIGNAL,
  type LinkMessage,
  LinkMessageSchema,
  MAX_SEALED_LENGTH,
  type SealedSignal,
  SealedSignalSchema,
} from '../protocol/contact-link.ts';
import { fromBase64Url, randomBytes, sha256, toBase64Url, utf8 } from './bytes.ts';

export interface LinkSecrets {
  /** The signaling room both sides join. */
  room: string;
  key: CryptoKey;
}

export function newLinkToken(): string {
  return toBase64Url(randomBytes(16));
}

export async function linkRoom(token: string): Promise<string> {
  return toBase64Url((await sha256(utf8(`parley-contact-link-v1|room|${token}`))).subarray(0, 16));
}

export async function linkSecrets(token: string): Promise<LinkSecrets> {
  const raw = await sha256(utf8(`parley-contact-link-v1|key|${token}`));
  const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return { room: await linkRoom(token), key };
}

export async function seal(secrets: LinkSecrets, message: LinkMessage): Promise<SealedSignal> {
  const iv = randomBytes(12);
  const box = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(secrets.room) },
      secrets.key,
      utf8(JSON.stringify(message)),
    ),
  );
  const sealed: SealedSignal = { t: CONTACT_LINK_SIGNAL, iv: toBase64Url(iv), box: toBase64Url(box) };
  if (sealed.box.length > MAX_SEALED_LENGTH) throw new Error('A contact-link message is too long.');
  return sealed;
}

/**
 * The message in a relayed signal, or null for anything that is not one sealed with this
 * link's key and of a known shape (a squatter in the room, a damaged or forged box).
 */
export async function open(secrets: LinkSecrets, data: unknown): Promise<LinkMessage | null> {
  const sealed = v.safeParse(SealedSignalSchema, data);
  if (!sealed.success) return null;
  const iv = fromBase64Url(sealed.output.iv);
  const box = fromBase64Url(sealed.output.box);
  if (iv === null || box === null || iv.length !== 12) return null;
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(secrets.room) },
      secrets.key,
      box,
    );
  } catch {
    return null;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch {
    return null;
  }
  const message = v.safeParse(LinkMessageSchema, raw);
  return message.success ? message.output : null;
}
