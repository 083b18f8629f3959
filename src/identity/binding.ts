/**
 * Identity keys bound to a call's DTLS fingerprints. DTLS already encrypts the call end to
 * end; what it cannot tell is *whose* certificate is on the other side. Signing the
 * fingerprints with the identity key answers that, so a signaling server that swaps
 * certificates (to sit in the middle) is caught, exactly as the link secret's MAC catches it
 * on link calls (src/call/verify.ts).
 *
 * - Contact exchange (inside a call the link secret verified): each side signs
 *   `parley-contact-v1|<callId>|<its peerId>|<its fingerprints>|<the other's fingerprints>|<its key>`.
 * - Calls between contacts (no link secret): each description carries a signature over
 *   `parley-v2|<callId>|<sender peerId>|<recipient key>|<the description's fingerprints>`,
 *   checked against the sender's pinned key. The recipient's key is inside, so a description
 *   meant for one contact cannot be replayed to another; the sender's signaling id is inside,
 *   so a server cannot reflect our own description back to us.
 *
 * Fingerprints are the SDP's `a=fingerprint:` lines, trimmed, sorted, de-duplicated and joined
 * with "\n" (the same normal form as src/call/verify.ts).
 */
import { type Identity, signText, verifyText } from './keys.ts';

export function sdpFingerprints(sdp: string): string {
  const lines = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed.startsWith('a=fingerprint:')) lines.add(trimmed);
  }
  return [...lines].sort().join('\n');
}

function fingerprintsOrThrow(sdp: string, whose: string): string {
  const fingerprints = sdpFingerprints(sdp);
  if (fingerprints === '') throw new Error(`The ${whose} description has no DTLS fingerprint to bind.`);
  return fingerprints;
}

export interface ContactBinding {
  callId: string;
  /** The signaling peer id of the side that signs. */
  signerPeerId: string;
  /** The signer's own description (its local description). */
  signerSdp: string;
  /** The other side's description, as the signer received it. */
  otherSdp: string;
}

export function contactBindingText(binding: ContactBinding, signerKey: string): string {
  const own = fingerprintsOrThrow(binding.signerSdp, "signer's");
  const other = fingerprintsOrThrow(binding.otherSdp, "other side's");
  return `parley-contact-v1|${binding.callId}|${binding.signerPeerId}|${own}|${other}|${signerKey}`;
}

/** The signature to send with our name and key when offering to save the other as a contact. */
export async function signContactBinding(identity: Identity, binding: ContactBinding): Promise<string> {
  return signText(identity, contactBindingText(binding, identity.publicKey));
}

/**
 * Checks the other side's contact offer. Call it with `signerSdp` = the other side's
 * description as we received it (our remote description) and `otherSdp` = our own local
 * description: if anyone swapped either certificate on the way, the texts differ and it fails.
 */
export async function verifyContactBinding(
  signerKey: string,
  binding: ContactBinding,
  signature: string,
): Promise<boolean> {
  const text = safeText(() => contactBindingText(binding, signerKey));
  return text !== null && verifyText(signerKey, text, signature);
}

export interface CallDescriptionBinding {
  callId: string;
  senderPeerId: string;
  /** The public key of the contact the description is sent to. */
  recipientKey: string;
  sdp: string;
}

export function callDescriptionText(binding: CallDescriptionBinding): string {
  const fingerprints = fingerprintsOrThrow(binding.sdp, 'call');
  return `parley-v2|${binding.callId}|${binding.senderPeerId}|${binding.recipientKey}|${fingerprints}`;
}

export async function signCallDescription(
  identity: Identity,
  binding: CallDescriptionBinding,
): Promise<string> {
  return signText(identity, callDescriptionText(binding));
}

/** True only for `senderKey`'s signature over this description's fingerprints, for us. */
export async function verifyCallDescription(
  senderKey: string,
  binding: CallDescriptionBinding,
  signature: string,
): Promise<boolean> {
  const text = safeText(() => callDescriptionText(binding));
  return text !== null && verifyText(senderKey, text, signature);
}

/** No fingerprint means no DTLS to authenticate: never accept that. */
function safeText(make: () => string): string | null {
  try {
    return make();
  } catch {
    return null;
  }
}
