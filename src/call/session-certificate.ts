/**
 * One DTLS certificate for all of a session's connections, made when the session starts, so
 * that our fingerprints are known before our first description exists. A description auth
 * that can sign ahead (IdentitySignedAuth: the signature is the service worker's, a round
 * trip away) then signs them as soon as our signaling id is known, and the answer to a
 * contact's offer leaves without waiting for it. Without it (generateCertificate missing or
 * failing), connections make their own certificates as before and sign on the way out.
 */

export class SessionCertificate {
  #certificate: RTCCertificate | null = null;
  readonly ready: Promise<RTCCertificate | null>;

  constructor() {
    const generate = globalThis.RTCPeerConnection?.generateCertificate;
    this.ready =
      typeof generate === 'function'
        ? generate
            .call(globalThis.RTCPeerConnection, { name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams)
            .then(
              (certificate) => {
                this.#certificate = certificate;
                return certificate;
              },
              () => null,
            )
        : Promise.resolve(null);
  }

  /** For a connection's configuration: the certificate once it is made, else nothing. */
  config(): Pick<RTCConfiguration, 'certificates'> {
    return this.#certificate ? { certificates: [this.#certificate] } : {};
  }

  /**
   * The `a=fingerprint:` lines our descriptions will carry with this certificate (as the SDP
   * writes them: upper-case hex), or null before it is made.
   */
  fingerprintLines(): string | null {
    const fingerprints = this.#certificate?.getFingerprints() ?? [];
    if (fingerprints.length === 0) return null;
    return fingerprints
      .map((f) => `a=fingerprint:${f.algorithm} ${(f.value ?? '').toUpperCase()}`)
      .join('\n');
  }
}
