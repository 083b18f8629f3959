/**
 * Description authentication for calls between contacts (a call that began as a ring): no
 * link secret exists, so each side signs its description's DTLS fingerprints with its
 * identity key (`parley-v2|<callId>|<sender peerId>|<recipient key>|<fingerprints>`, see
 * src/identity/binding.ts) and checks the other side's signature against the key it pinned
 * when it saved the contact. A signaling server that swaps fingerprints (to sit in the middle)
 * has no contact's private key, so its description does not verify and is never applied.
 *
 * `auth` on the wire is `<sender's public key>.<signature>` (43 + 1 + 86 characters). The key
 * is there only to tell the person why a call was refused: a description validly signed by a
 * key other than the pinned one means "Ana's key changed" (she reinstalled Parley, or someone
 * pretends to be her), and that is what the call's end screen says, with what to do.
 *
 * Signing is not done here: the private key stays in the service worker (the extension's
 * overlay asks it over its port, see src/background/identity-requests.ts), so a page that
 * frames the overlay never comes near it. `sign` gets only the description and our signaling
 * id; the worker fills in the call id and the recipient's key from its own record of the call.
 */
import { sdpFingerprints, verifyCallDescription } from '../identity/binding.ts';
import { PUBLIC_KEY_PATTERN, SIGNATURE_PATTERN } from '../protocol/presence.ts';
import type { DescriptionAuth } from './description-auth.ts';

export interface IdentitySignedAuthOptions {
  /** The ring's call id, which both sides know from the signed invite. */
  callId: string;
  /** Our public key (the recipient key in the other side's signatures). */
  selfKey: string;
  /** The contact's pinned public key. */
  peerKey: string;
  /** The contact's name, for the sentence shown when their key changed. */
  peerName: string;
  /** Our signature over `parley-v2|callId|senderId|peerKey|fingerprints(sdp)`. */
  sign(senderId: string, sdp: string): Promise<string>;
}

/** What a person reads when a contact's call comes signed by another key than the one saved. */
export function keyChangedText(name: string): string {
  return `${name}'s key changed: this call was signed by a different key than the one you saved, so Parley refused it. If ${name} reinstalled Parley, call ${name} with a link, save ${name} again and compare the security codes with Verify.`;
}

export class IdentitySignedAuth implements DescriptionAuth {
  readonly ready = Promise.resolve();
  #refusal: string | null = null;
  /** Signatures asked for ahead, by `<senderId>|<fingerprints>` (a few: one per signaling id). */
  #ahead = new Map<string, Promise<string>>();

  constructor(private readonly options: IdentitySignedAuthOptions) {}

  /**
   * Ask for the signature over these fingerprints now (the worker signs only fingerprints,
   * so the lines alone stand for the description): the description that carries them is
   * sent without the round trip.
   */
  prepare(senderId: string, fingerprints: string): void {
    const key = `${senderId}|${sdpFingerprints(fingerprints)}`;
    if (this.#ahead.has(key)) return;
    if (this.#ahead.size >= 4) this.#ahead.clear();
    const signature = this.options.sign(senderId, fingerprints);
    signature.catch(() => {});
    this.#ahead.set(key, signature);
  }

  async sign(senderId: string, sdp: string): Promise<string> {
    const ahead = this.#ahead.get(`${senderId}|${sdpFingerprints(sdp)}`);
    const signature = (await ahead?.catch(() => null)) ?? (await this.options.sign(senderId, sdp));
    if (!SIGNATURE_PATTERN.test(signature)) throw new Error('Parley could not sign this call.');
    return `${this.options.selfKey}.${signature}`;
  }

  async verify(senderId: string, sdp: string, auth: string): Promise<boolean> {
    const { callId, selfKey, peerKey, peerName } = this.options;
    const [key = '', signature = '', ...rest] = auth.split('.');
    if (rest.length > 0 || !PUBLIC_KEY_PATTERN.test(key) || !SIGNATURE_PATTERN.test(signature)) return false;
    const binding = { callId, senderPeerId: senderId, recipientKey: selfKey, sdp };
    if (key === peerKey) return verifyCallDescription(peerKey, binding, signature);
    // Never accepted; but if that other key really signed this call, say the key changed.
    if (await verifyCallDescription(key, binding, signature)) this.#refusal = keyChangedText(peerName);
    return false;
  }

  refusal(): string | null {
    return this.#refusal;
  }
}
