/**
 * The offer for the next person to join, while we wait alone or while we are in a call that
 * has room for more: in a group call everyone already there offers to the newcomer, each
 * with a prepared offer (the server hands each parked one over right after `joined`).
 *
 * Made with this join's ICE servers and signed with our current id (a PreparedOffer,
 * src/call/prepared-offer.ts), it goes out the moment `peer-joined` arrives. With a server
 * that keeps one message for the next joiner (`joined.canPark`), it is parked there once its
 * ICE candidates are gathered (or after PARK_GATHER_WAIT_MS): the server hands it to the
 * newcomer right after its `joined`, about a round trip sooner than `peer-joined` would let
 * us send it, and we know exactly which candidates it lacks. Parked again after every
 * `joined` (a new socket holds nothing); taken back when the offer goes away.
 *
 * The newcomer's side of the same race lives here too: a spare RTCPeerConnection, made when
 * we join a room where someone is, while their offer is on its way. (No
 * `iceCandidatePoolSize`: it gained nothing measurable, and calls that never connected were
 * seen under load while it was on.)
 */
import type { PeerSignal } from '../protocol/peer-signal.ts';
import type { DescriptionAuth } from './description-auth.ts';
import type { CallMedia } from './media.ts';
import { PEER_CONNECTION_BASE, PreparedOffer } from './prepared-offer.ts';

/** How long a prepared offer waits for its ICE candidates before it is parked anyway. */
export const PARK_GATHER_WAIT_MS = 1500;

/** A prepared offer handed to a new peer, with its signature if it is still ours to use. */
export interface PreparedTake {
  offer: PreparedOffer;
  auth: Promise<string> | null;
  /** The signature, if already computed (then the offer can go out at once). */
  signed: string | null;
  /** The server already handed this description to the peer (it was parked). */
  delivered: string | null;
}

/** A prepared offer as the signal that carries it, parked or sent. */
export function signedOffer(sdp: string, auth: string): PeerSignal {
  return { kind: 'description', description: { type: 'offer', sdp }, auth };
}

interface PreparedEntry {
  offer: PreparedOffer;
  selfId: string;
  auth: Promise<string>;
  /** The signature, once computed. */
  signed: string | null;
  /** The descriptions parked with the server, oldest first (parked again after a reconnect). */
  parkedSdps: string[];
}

export interface NextPeerOfferOptions {
  media: CallMedia;
  auth: DescriptionAuth;
  /** `Signaling.park`, if the signaling client has it. */
  park?: (data: unknown) => void;
  /** Our signaling id now (null before the first `joined`). */
  selfId(): string | null;
  /** An offer for the next person may be made and parked now (alone, or in a call with room). */
  open(): boolean;
  config(): RTCConfiguration;
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
}

export class NextPeerOffer {
  /** The server keeps parked messages (its last `joined` said so). */
  canPark = false;
  #prepared: PreparedEntry | null = null;
  #parked: PreparedEntry | null = null;
  #spare: RTCPeerConnection | null = null;

  constructor(private readonly options: NextPeerOfferOptions) {}

  /** Keep an offer ready for whoever joins next (nothing to do if one is, for our id). */
  prepare(): void {
    const selfId = this.options.selfId();
    const canMake = typeof RTCPeerConnection !== 'undefined' || this.options.createPeerConnection;
    if (!this.options.open() || !selfId || !canMake) return;
    if (this.#prepared?.offer.usable && this.#prepared.selfId === selfId) return;
    this.drop();
    const offer = new PreparedOffer(
      this.options.media,
      { ...PEER_CONNECTION_BASE, ...this.options.config() },
      this.options.createPeerConnection,
    );
    const auth = offer.ready.then(() => this.options.auth.sign(selfId, offer.pc.localDescription?.sdp ?? ''));
    const entry: PreparedEntry = { offer, selfId, auth, signed: null, parkedSdps: [] };
    auth.then(
      (signed) => {
        entry.signed = signed;
      },
      () => {},
    );
    // Parked once signed and with its candidates (gathering takes tens of milliseconds with
    // host candidates, longer with STUN/TURN, so at most PARK_GATHER_WAIT_MS).
    let waited: ReturnType<typeof setTimeout> | undefined;
    const gatheredOrLate = Promise.race([
      offer.gathered,
      new Promise<void>((resolve) => {
        waited = setTimeout(resolve, PARK_GATHER_WAIT_MS);
      }),
    ]);
    Promise.all([auth, gatheredOrLate]).then(
      () => {
        clearTimeout(waited);
        if (this.#prepared === entry) this.park();
      },
      () => clearTimeout(waited),
    );
    this.#prepared = entry;
  }

  /** Park the prepared offer with the server if it is ready, ours, and not parked as it is. */
  park(): void {
    const entry = this.#prepared;
    const { park } = this.options;
    if (!entry || !park || !this.canPark || !this.options.open()) return;
    if (
      entry.signed === null ||
      entry.selfId !== this.options.selfId() ||
      !entry.offer.isReady ||
      !entry.offer.usable
    )
      return;
    const local = entry.offer.pc.localDescription;
    if (!local) return;
    if (this.#parked === entry && entry.parkedSdps.at(-1) === local.sdp) return;
    entry.parkedSdps.push(local.sdp);
    this.#parked = entry;
    park(signedOffer(local.sdp, entry.signed));
  }

  /** A new socket (or a restarted server) holds nothing we parked before. */
  forgetParked(): void {
    this.#parked = null;
  }

  /**
   * The prepared offer, if there is one still good to use (once). `parked`: the server says
   * our parked message went to the peer this is for.
   */
  take(parked = false): PreparedTake | null {
    const prepared = this.#prepared;
    this.#prepared = null;
    const wasParked = prepared !== null && this.#parked === prepared;
    // Which of our parks went is not said: count on the oldest (the fewest candidates), so
    // that every candidate it may lack is sent. A later park may still be held: drop it.
    const delivered = parked && wasParked ? (prepared.parkedSdps[0] ?? null) : null;
    if (parked && wasParked && prepared.parkedSdps.length === 1) this.#parked = null;
    else this.#unpark();
    if (!prepared) return null;
    if (!prepared.offer.usable) {
      prepared.offer.close();
      return null;
    }
    const ours = prepared.selfId === this.options.selfId();
    return {
      offer: prepared.offer,
      auth: ours ? prepared.auth : null,
      signed: ours ? prepared.signed : null,
      delivered: ours ? delivered : null,
    };
  }

  /** As the newcomer: a connection made while the offer of someone already there is on its way. */
  makeSpare(): void {
    if (this.#spare) return;
    const config: RTCConfiguration = { ...PEER_CONNECTION_BASE, ...this.options.config() };
    try {
      this.#spare = this.options.createPeerConnection?.(config) ?? new RTCPeerConnection(config);
    } catch {
      this.#spare = null;
    }
  }

  takeSpare(): RTCPeerConnection | null {
    const spare = this.#spare;
    this.#spare = null;
    return spare;
  }

  /** Not needed any more (someone came, the call ended): take back, close, forget. */
  drop(): void {
    this.#unpark();
    this.#spare?.close();
    this.#spare = null;
    this.#prepared?.offer.close();
    this.#prepared = null;
  }

  /** Take back what we parked (the offer behind it is going away or went to someone else). */
  #unpark(): void {
    if (!this.#parked) return;
    this.#parked = null;
    this.options.park?.(null);
  }
}
