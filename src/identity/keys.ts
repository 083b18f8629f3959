/**
 * The profile's identity: one Ed25519 key pair made with WebCrypto. The private key is created
 * non-extractable, so no script (ours included) can read its bytes: it can only sign, and it
 * is kept as a CryptoKey in IndexedDB (src/identity/store.ts). The public key, raw 32 bytes in
 * base64url, is the identity others pin.
 */
import { PUBLIC_KEY_PATTERN, SIGNATURE_PATTERN } from '../protocol/presence.ts';
import { concatBytes, fromBase64Url, fromHex, toBase64Url, utf8 } from './bytes.ts';

const ED25519 = { name: 'Ed25519' } as const;

export interface Identity {
  /** Signs; `extractable` is false. */
  readonly privateKey: CryptoKey;
  /** The raw public key, base64url (43 characters). */
  readonly publicKey: string;
}

export async function generateIdentity(): Promise<Identity> {
  const pair = (await crypto.subtle.generateKey(ED25519, false, ['sign', 'verify'])) as CryptoKeyPair;
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: toBase64Url(raw) };
}

/** PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410). */
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');

/**
 * The identity for a known 32-byte seed, for fixed test vectors and fixtures. The extension
 * never calls this: its key is generated and its seed never exists outside WebCrypto.
 */
export async function identityFromSeed(seed: Uint8Array<ArrayBuffer>): Promise<Identity> {
  if (seed.length !== 32) throw new Error('An Ed25519 seed is 32 bytes.');
  const pkcs8 = concatBytes(PKCS8_PREFIX, seed);
  // Imported once extractable only to read the public half, then again non-extractable.
  const open = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', open);
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, false, ['sign']);
  return { privateKey, publicKey: jwk.x as string };
}

/** Signs UTF-8 text; the signature is 64 bytes, base64url (86 characters). */
export async function signText(identity: Identity, text: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign(ED25519, identity.privateKey, utf8(text))));
}

const publicKeys = new Map<string, Promise<CryptoKey>>();

/** The WebCrypto key for a public key text, cached (a ring or a call checks the same few). */
function importPublicKey(publicKey: string, raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  let key = publicKeys.get(publicKey);
  if (key === undefined) {
    if (publicKeys.size >= 256) publicKeys.clear();
    key = crypto.subtle.importKey('raw', raw, ED25519, false, ['verify']);
    publicKeys.set(publicKey, key);
  }
  return key;
}

/**
 * True only if `signature` is `publicKey`'s signature of `text`. Malformed keys or
 * signatures (wrong length, not canonical base64url, not a curve point) are false, never thrown.
 */
export async function verifyText(publicKey: string, text: string, signature: string): Promise<boolean> {
  if (!PUBLIC_KEY_PATTERN.test(publicKey) || !SIGNATURE_PATTERN.test(signature)) return false;
  const raw = fromBase64Url(publicKey);
  const sig = fromBase64Url(signature);
  if (raw === null || sig === null) return false;
  try {
    return await crypto.subtle.verify(ED25519, await importPublicKey(publicKey, raw), sig, utf8(text));
  } catch {
    publicKeys.delete(publicKey);
    return false;
  }
}

export function isPublicKey(text: string): boolean {
  return PUBLIC_KEY_PATTERN.test(text);
}

/** For the rare caller that needs bytes (the SAS and mailbox derivations). */
export function publicKeyBytes(publicKey: string): Uint8Array<ArrayBuffer> {
  const raw = PUBLIC_KEY_PATTERN.test(publicKey) ? fromBase64Url(publicKey) : null;
  if (raw === null) throw new Error('Not a Parley public key.');
  return raw;
}
