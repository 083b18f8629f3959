/**
 * Verified by default: the link secret authenticates each peer's DTLS fingerprints, so a
 * signaling server that rewrites SDP to sit in the middle is caught.
 *
 * With every description a peer sends
 *   auth = base64url(HMAC-SHA256(K, "parley-v1|" + senderPeerId + "|" + fingerprints))
 * where K = HKDF-SHA256(secret, salt "parley-v1", info "dtls-fingerprint-auth") and
 * `fingerprints` is the sorted, de-duplicated list of the SDP's `a=fingerprint:` lines
 * joined with "\n". The receiver recomputes it over the SDP it received and the sender id
 * the server named; any mismatch means the description did not come from someone holding
 * the secret (or was altered), and the call must not go on. The sender id is inside the MAC
 * so a server cannot reflect our own description back to us as the other peer's.
 */

const encoder = new TextEncoder();

export function base64UrlEncode(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const padded = text.replaceAll('-', '+').replaceAll('_', '/') + '='.repeat((4 - (text.length % 4)) % 4);
  try {
    const s = atob(padded);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

/** The SDP's `a=fingerprint:` lines, trimmed, sorted and de-duplicated. */
export function fingerprintLines(sdp: string): string[] {
  const lines = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.startsWith('a=fingerprint:')) lines.add(trimmed);
  }
  return [...lines].sort();
}

export function authMessage(senderPeerId: string, sdp: string): string {
  return `parley-v1|${senderPeerId}|${fingerprintLines(sdp).join('\n')}`;
}

/** Derive the HMAC key from the link secret (do it once per call). */
export async function deriveAuthKey(secret: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: encoder.encode('parley-v1'),
      info: encoder.encode('dtls-fingerprint-auth'),
    },
    base,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign', 'verify'],
  );
}

export async function signDescription(key: CryptoKey, senderPeerId: string, sdp: string): Promise<string> {
  if (fingerprintLines(sdp).length === 0) throw new Error('The description has no DTLS fingerprint to sign.');
  const mac = await crypto.subtle.sign('HMAC', key, encoder.encode(authMessage(senderPeerId, sdp)));
  return base64UrlEncode(new Uint8Array(mac));
}

/** True only when `auth` is the MAC of this SDP's fingerprints by `senderPeerId` (constant time). */
export async function verifyDescription(
  key: CryptoKey,
  senderPeerId: string,
  sdp: string,
  auth: string,
): Promise<boolean> {
  // No fingerprint means no DTLS to authenticate: never accept that.
  if (fingerprintLines(sdp).length === 0) return false;
  const mac = base64UrlDecode(auth);
  if (mac?.length !== 32) return false;
  return crypto.subtle.verify('HMAC', key, mac, encoder.encode(authMessage(senderPeerId, sdp)));
}
