/**
 * Signals lost on the way, and how a connection's negotiation gets over them.
 *
 * A signaling socket can die without closing (a laptop that changed networks: its TCP
 * connection is bound to an address it no longer has). Until it is found dead and reopened,
 * what is written to it is lost, and so is what the server relays to it. An ICE-restart offer
 * lost that way leaves its sender in `have-local-offer`, waiting for an answer that never
 * comes; an answer lost that way leaves the other side waiting just the same. So:
 *   - an offer still unanswered is sent again (`OfferResender`): after our signaling resumed,
 *     when the other side's came back, when an offer of theirs collided with it (they clearly
 *     did not get ours), and every few seconds until answered;
 *   - every description is known by its origin line (`o=`: a session id and a version that
 *     grows with every new description of that session), so a copy of one already applied is
 *     recognised (`sdpOrigin`, `isRepeat`): a repeated offer is answered with the answer
 *     already made (the first may be what was lost), with the candidates it carries added;
 *     a repeated or older answer, or an answer when no offer of ours waits, is dropped. Applying
 *     those again would answer a stale offer or roll back a newer one.
 */

/** The `o=` line's session id and version. */
export interface SdpOrigin {
  id: string;
  version: bigint;
}

/** The origin of a description (null without a well-formed `o=` line). */
export function sdpOrigin(sdp: string): SdpOrigin | null {
  const match = /^o=\S+ (\d+) (\d+) /m.exec(sdp);
  if (!match?.[1] || !match[2]) return null;
  return { id: match[1], version: BigInt(match[2]) };
}

/** `next` is the same description as `applied` or an older one of the same session. */
export function isRepeat(next: SdpOrigin | null, applied: SdpOrigin | null): boolean {
  return next !== null && applied !== null && next.id === applied.id && next.version <= applied.version;
}

/** The same description (or neither has an origin). */
export function sameOrigin(a: SdpOrigin | null, b: SdpOrigin | null): boolean {
  if (a === null || b === null) return a === b;
  return a.id === b.id && a.version === b.version;
}

/** The candidates a description carries, as `addIceCandidate` takes them. */
export function candidateInits(sdp: string): RTCIceCandidateInit[] {
  const found: RTCIceCandidateInit[] = [];
  let index = -1;
  let mid: string | null = null;
  const section: string[] = [];
  const flush = () => {
    for (const candidate of section.splice(0))
      found.push({ candidate, sdpMid: mid, sdpMLineIndex: index >= 0 ? index : null });
  };
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      flush();
      index++;
      mid = null;
    } else if (line.startsWith('a=mid:')) {
      mid = line.slice('a=mid:'.length);
    } else if (line.startsWith('a=candidate:') && index >= 0) {
      section.push(line.slice(2));
    }
  }
  flush();
  return found;
}

/** First resend of an unanswered offer after this long; then twice as long, up to MAX. */
export const OFFER_RESEND_MS = 2_500;
export const OFFER_RESEND_MAX_MS = 10_000;

/**
 * Sends an offer again while it waits for its answer. `pending()` says whether the offer of
 * that origin still waits (the connection is in `have-local-offer` with it); `resend()` sends
 * the current local description (with the candidates gathered since, which may have been lost
 * too).
 */
export class OfferResender {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #origin: SdpOrigin | null = null;

  constructor(
    private readonly pending: (origin: SdpOrigin | null) => boolean,
    private readonly resend: () => void,
  ) {}

  /** An offer of this origin was just sent: watch for its answer. */
  sent(origin: SdpOrigin | null): void {
    if (this.#timer && sameOrigin(origin, this.#origin)) return; // a resend: its schedule goes on
    this.#origin = origin;
    this.#schedule(OFFER_RESEND_MS);
  }

  /** Send it now if it still waits (something says it was likely lost). */
  now(): void {
    if (!this.pending(this.#origin)) return;
    this.resend();
    this.#schedule(OFFER_RESEND_MS);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.pending(this.#origin)) return;
      this.resend();
      this.#schedule(Math.min(delayMs * 2, OFFER_RESEND_MAX_MS));
    }, delayMs);
  }
}
