/**
 * A peer connection and its offer, made before we know whom it is for.
 *
 * The peer already in a room offers to whoever joins (see session.ts and next-peer-offer.ts). Making that offer
 * (RTCPeerConnection, transceivers, data channels, setLocalDescription, ICE gathering) takes
 * a few dozen milliseconds; a waiting peer has nothing better to do, so it makes it while it
 * waits and the session adopts it when `peer-joined` arrives: the offer leaves at once.
 *
 * The offer is made with empty senders (`addTransceiver`, no track): the session puts the
 * microphone and camera tracks in with `replaceTrack`, which needs no renegotiation, and the
 * camera can be turned on or off while waiting without invalidating it. ICE candidates
 * gathered before adoption are kept and handed over.
 */
import { createCallChannels } from './data-link.ts';
import type { CallMedia } from './media.ts';

export const PEER_CONNECTION_BASE: RTCConfiguration = {
  bundlePolicy: 'max-bundle',
  rtcpMuxPolicy: 'require',
};

export class PreparedOffer {
  readonly pc: RTCPeerConnection;
  readonly audio: RTCRtpTransceiver;
  readonly video: RTCRtpTransceiver | null;
  readonly control: RTCDataChannel;
  readonly files: RTCDataChannel;
  /** Resolves once the offer is the local description; rejects if that failed. */
  readonly ready: Promise<void>;
  /** Resolves when ICE gathering is complete (the description then lists every candidate). */
  readonly gathered: Promise<void>;
  #candidates: RTCIceCandidate[] = [];
  #taken = false;
  #closed = false;
  #settled = false;

  constructor(
    readonly media: CallMedia,
    config: RTCConfiguration = PEER_CONNECTION_BASE,
    createPeerConnection: (config: RTCConfiguration) => RTCPeerConnection = (c) => new RTCPeerConnection(c),
  ) {
    const pc = createPeerConnection(config);
    this.pc = pc;
    this.audio = pc.addTransceiver('audio', { direction: 'sendrecv' });
    this.video = media === 'video' ? pc.addTransceiver('video', { direction: 'sendrecv' }) : null;
    ({ control: this.control, files: this.files } = createCallChannels(pc));
    let gathered = (): void => {};
    this.gathered = new Promise((resolve) => {
      gathered = resolve;
    });
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.#candidates.push(candidate);
      else gathered();
    };
    this.ready = pc.setLocalDescription();
    // Adoption awaits `ready` and reports; an unobserved rejection here would only be noise.
    this.ready.then(
      () => {
        this.#settled = true;
      },
      () => {},
    );
  }

  /** The offer is the local description already: it can be sent without waiting. */
  get isReady(): boolean {
    return this.#settled;
  }

  /** Still usable: not taken, not closed, and the connection has not failed meanwhile. */
  get usable(): boolean {
    return !this.#taken && !this.#closed && this.pc.signalingState === 'have-local-offer';
  }

  /**
   * Hand the connection over (once). The caller installs its own handlers and receives the
   * candidates gathered so far; later ones reach the caller's `onicecandidate`.
   */
  take(): { pc: RTCPeerConnection; candidates: RTCIceCandidate[] } {
    if (!this.usable) throw new Error('This prepared offer was already used or closed.');
    this.#taken = true;
    this.pc.onicecandidate = null;
    const candidates = this.#candidates;
    this.#candidates = [];
    return { pc: this.pc, candidates };
  }

  /** Not needed any more (the call ended, our id changed): let it go. */
  close(): void {
    if (this.#taken || this.#closed) return;
    this.#closed = true;
    this.pc.onicecandidate = null;
    this.pc.close();
  }
}
