/**
 * Description authentication: how a peer proves that the session description it sends (its
 * DTLS fingerprints) comes from someone allowed in the call, so that a signaling server that
 * rewrites SDP to sit in the middle is caught. Every description signal carries `auth`; a
 * description whose `auth` does not verify is never applied.
 *
 * Two implementations: `LinkSecretAuth` here (an HMAC under a key derived from the link
 * secret, src/call/verify.ts), for calls made with a link; and `IdentitySignedAuth`
 * (./identity-signed-auth.ts: a signature by the sender's identity key, checked against the
 * key pinned for that contact), for calls between contacts.
 */
import { deriveAuthKey, signDescription, verifyDescription } from './verify.ts';

export interface DescriptionAuth {
  /** Settles once signing and verifying can work; rejects if they never can (say why). */
  readonly ready: Promise<void>;
  /** The `auth` to send with a description of ours, sent under signaling id `senderId`. */
  sign(senderId: string, sdp: string): Promise<string>;
  /** True only when `auth` proves `sdp` came from `senderId`, someone allowed in the call. */
  verify(senderId: string, sdp: string, auth: string): Promise<boolean>;
  /**
   * After a description failed to verify: a sentence saying why, when this auth knows better
   * than "could not be verified" (a contact's key changed); null otherwise.
   */
  refusal?(): string | null;
  /**
   * An auth whose signing is slow (a round trip) may start it ahead: our descriptions under
   * `senderId` will carry these `a=fingerprint:` lines. `sign` then answers from it.
   */
  prepare?(senderId: string, fingerprints: string): void;
}

/** The link secret's MAC over the DTLS fingerprints (see src/call/verify.ts). */
export class LinkSecretAuth implements DescriptionAuth {
  readonly ready: Promise<void>;
  readonly #key: Promise<CryptoKey>;

  constructor(secret: string) {
    this.#key = deriveAuthKey(secret);
    this.ready = this.#key.then(() => undefined);
    // An unobserved rejection would be noise: whoever needs it awaits `ready` and reports.
    this.ready.catch(() => {});
  }

  async sign(senderId: string, sdp: string): Promise<string> {
    return signDescription(await this.#key, senderId, sdp);
  }

  async verify(senderId: string, sdp: string, auth: string): Promise<boolean> {
    return verifyDescription(await this.#key, senderId, sdp, auth);
  }
}
