/**
 * A peer connection and its offer, made before we know whom it is for.
 *
 * Whoever joins a room where someone is waiting makes the offer (see session.ts). Making it
 * (RTCPeerConnection, transceivers, data channels, setLocalDescription, ICE gathering) takes
 * a few dozen milliseconds that used to sit between the server's `joined` and the offer
 * leaving. A `PreparedOffer` does that work while the person is still on the join card (or
 * while the join round trip is in flight); the session adopts it for the first peer it finds
 * in the room and only has to sign and send the description.
 *
 * The offer is made with empty senders (`addTransceiver`, no track): the session puts the
 * microphone and camera tracks in with `replaceTrack`, which needs no renegotiation, so the
 * offer does not wait for the devices either. ICE candidates gathered before adoption are
 * kept and handed over. If the server's `joined` brings ICE servers (STUN/TURN) the prepared
 * connection was made without, the session restarts ICE gathering before sending the offer
 * (`restartWith`), so no candidate type is lost.
 */
import { CONTROL_CHANNEL_ID, FILES_CHANNEL_ID } from './data-link.ts';
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
  #candidates: RTCIceCandidate[] = [];
  #taken = false;
  #closed = false;

  constructor(
    readonly media: CallMedia,
    createPeerConnection: (config: RTCConfiguration) => RTCPeerConnection = (c) => new RTCPeerConnection(c),
  ) {
    const pc = createPeerConnection({ ...PEER_CONNECTION_BASE, iceServers: [] });
    this.pc = pc;
    this.audio = pc.addTransceiver('audio', { direction: 'sendrecv' });
    this.video = media === 'video' ? pc.addTransceiver('video', { direction: 'sendrecv' }) : null;
    this.control = pc.createDataChannel('control', {
      negotiated: true,
      id: CONTROL_CHANNEL_ID,
      ordered: true,
    });
    this.files = pc.createDataChannel('files', { negotiated: true, id: FILES_CHANNEL_ID, ordered: true });
    this.files.binaryType = 'arraybuffer';
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.#candidates.push(candidate);
    };
    this.ready = pc.setLocalDescription();
    // Adoption awaits `ready` and reports; an unobserved rejection here would only be noise.
    this.ready.catch(() => {});
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

  /** Nobody to offer to after all (we are the first in the room): let it go. */
  close(): void {
    if (this.#taken || this.#closed) return;
    this.#closed = true;
    this.pc.onicecandidate = null;
    this.pc.close();
  }
}

/**
 * The prepared connection was made with no ICE servers; if the server handed some out, use
 * them and gather again (a new offer with fresh ICE credentials) before anyone sees the offer.
 */
export async function restartWith(pc: RTCPeerConnection, iceServers: RTCIceServer[]): Promise<void> {
  pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
  await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
}
