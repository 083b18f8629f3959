/**
 * Per-contact mailboxes: where a contact's rings are delivered, registered on the signaling
 * server instead of the raw public key, so a stranger who knows a key cannot ask the server
 * whether it is online, and the server cannot tell from the mailboxes alone who knows whom.
 *
 * When two people save each other as contacts each sends 32 random bytes over the verified
 * call; both derive the same `pairSecret` from the two keys and the two contributions. The
 * mailbox where `owner` receives the other's rings is then
 *   tag = HMAC-SHA256(pairSecret, "parley-mailbox-v1|" + ownerKey)
 *   id  = first 16 bytes of SHA-256("parley-mailbox-v1|" + ownerKey + "|" + tag)
 * (both base64url). Only the pair can compute `tag`, hence `id`. The owner registers the tag;
 * the server recomputes the id from the key the connection proved (src/protocol/presence.ts
 * mailboxIdInput), so nobody else, not even the other contact, can register that mailbox.
 * Each contact has two mailboxes, one per direction.
 */
import { mailboxIdInput } from '../protocol/presence.ts';
import { hmacSha256, randomBytes, sha256, toBase64Url, utf8 } from './bytes.ts';
import { isPublicKey } from './keys.ts';

export interface Mailbox {
  /** Sent to the server when registering (it cannot compute it, only check it). */
  readonly tag: string;
  /** Named in invites and used by the server to route rings. */
  readonly id: string;
}

export interface PairContribution {
  readonly publicKey: string;
  /** 32 random bytes from `newPairContribution`, sent to the other side over the verified call. */
  readonly nonce: Uint8Array<ArrayBuffer>;
}

/** This side's contribution to a new pair secret (send it over the verified call only). */
export function newPairNonce(): Uint8Array<ArrayBuffer> {
  return randomBytes(32);
}

/** The 32-byte secret two contacts share; the same whichever side computes it. */
export async function derivePairSecret(
  a: PairContribution,
  b: PairContribution,
): Promise<Uint8Array<ArrayBuffer>> {
  if (!isPublicKey(a.publicKey) || !isPublicKey(b.publicKey)) throw new Error('Not a Parley public key.');
  if (a.publicKey === b.publicKey) throw new Error('A contact needs two different keys.');
  if (a.nonce.length !== 32 || b.nonce.length !== 32) throw new Error('A pair contribution is 32 bytes.');
  const [first, second] = a.publicKey < b.publicKey ? [a, b] : [b, a];
  return sha256(
    utf8(
      `parley-pair-v1|${first.publicKey}|${toBase64Url(first.nonce)}|${second.publicKey}|${toBase64Url(second.nonce)}`,
    ),
  );
}

export async function mailboxId(ownerKey: string, tag: string): Promise<string> {
  return toBase64Url((await sha256(utf8(mailboxIdInput(ownerKey, tag)))).subarray(0, 16));
}

/** The mailbox at which `ownerKey` receives rings from the other holder of `pairSecret`. */
export async function mailboxFor(pairSecret: Uint8Array<ArrayBuffer>, ownerKey: string): Promise<Mailbox> {
  if (pairSecret.length !== 32) throw new Error('A pair secret is 32 bytes.');
  if (!isPublicKey(ownerKey)) throw new Error('Not a Parley public key.');
  const tag = toBase64Url(await hmacSha256(pairSecret, utf8(`parley-mailbox-v1|${ownerKey}`)));
  return { tag, id: await mailboxId(ownerKey, tag) };
}
