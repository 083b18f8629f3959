/**
 * Our microphone and camera as every connection sends them. Each connection registers its
 * two senders (audio, video) once; a new device stream, the camera going off or on again,
 * reaches all of them with `RTCRtpSender.replaceTrack` (no renegotiation, whatever the number
 * of people). Senders exist whether or not the devices are ready: a connection made before
 * the camera started gets the tracks when they come.
 */
import { acquireLocalMedia, type CallMedia, LocalMedia } from './media.ts';
import { applyVideoCap, videoCap } from './uplink-budget.ts';

/** One connection's senders for our media. */
export interface MediaSenders {
  audio: RTCRtpSender | null;
  video: RTCRtpSender | null;
}

export class LocalTracks {
  #media: LocalMedia | null = null;
  #stopped = false;
  readonly #senders = new Set<MediaSenders>();

  constructor(
    readonly kind: CallMedia,
    stream?: MediaStream,
  ) {
    if (stream) this.#media = new LocalMedia(stream, kind);
  }

  /** Devices are in (or were given): the session need not ask for them. */
  get ready(): boolean {
    return this.#media !== null;
  }

  get stream(): MediaStream | null {
    return this.#media?.stream ?? null;
  }

  get micOn(): boolean {
    return this.#media?.micEnabled ?? false;
  }

  get cameraOn(): boolean {
    return this.#media?.cameraEnabled ?? false;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Open the devices here (rejects with MediaAccessError). False if stopped meanwhile. */
  async acquire(): Promise<boolean> {
    const stream = await acquireLocalMedia(this.kind);
    return this.use(stream);
  }

  /**
   * Use this stream from now on, in every connection (the old one stops). False, and the
   * stream stopped, once we are stopped; false too if it is the stream in use already.
   */
  use(stream: MediaStream): boolean {
    if (this.#stopped) {
      for (const t of stream.getTracks()) t.stop();
      return false;
    }
    if (this.#media?.stream === stream) return false;
    this.#media?.stop();
    this.#media = new LocalMedia(stream, this.kind);
    for (const senders of this.#senders) this.#fill(senders);
    return true;
  }

  /** A connection's senders: our tracks go in now and follow every change. Returns the undo. */
  attach(senders: MediaSenders): () => void {
    this.#senders.add(senders);
    this.#fill(senders);
    this.rebalance();
    return () => {
      this.#senders.delete(senders);
      this.rebalance();
    };
  }

  /** False if there is nothing to mute (no devices, or stopped). */
  setMicEnabled(on: boolean): boolean {
    if (!this.#media || this.#stopped) return false;
    this.#media.setMicEnabled(on);
    return true;
  }

  /**
   * Camera off stops the camera (light off); on opens it again. Every connection's video
   * sender gets the change. False when nothing changed (audio call, stopped meanwhile).
   */
  async setCameraEnabled(on: boolean): Promise<boolean> {
    const media = this.#media;
    if (!media || this.kind !== 'video' || this.#stopped) return false;
    const track = await media.setCameraEnabled(on);
    if (this.#stopped) {
      track?.stop();
      return false;
    }
    await Promise.all(
      [...this.#senders].map((s) => s.video?.replaceTrack(track).catch(() => {}) ?? Promise.resolve()),
    );
    this.rebalance();
    return true;
  }

  /** Stop every track (the camera light goes off); later streams are stopped on arrival. */
  stop(): void {
    this.#stopped = true;
    this.#media?.stop();
    this.#senders.clear();
  }

  #fill(senders: MediaSenders): void {
    const media = this.#media;
    void senders.audio?.replaceTrack(media?.audioTrack ?? null).catch(() => {});
    const video = senders.video;
    if (video) {
      void video.replaceTrack(media?.cameraEnabled ? media.videoTrack : null).then(
        () => this.rebalance(),
        () => {},
      );
    }
  }

  /**
   * Every video sender within its share of the uplink for the number of connections now
   * (src/call/uplink-budget.ts). Called when connections come and go, when the camera
   * changes, and when a connection connects (a sender gets its encodings on negotiation).
   */
  rebalance(): void {
    if (this.kind !== 'video' || this.#stopped) return;
    const cap = videoCap(this.#senders.size + 1);
    for (const { video } of this.#senders) {
      if (video?.track) void applyVideoCap(video, cap).catch(() => {});
    }
  }
}

/** A sending transceiver of this kind: the remote offer's if it has a free one, else a new one. */
export function senderFor(pc: RTCPeerConnection, kind: 'audio' | 'video'): RTCRtpSender {
  const reusable = pc
    .getTransceivers()
    .find(
      (t) =>
        t.receiver.track.kind === kind &&
        !t.sender.track &&
        t.mid !== null &&
        t.direction !== 'sendrecv' &&
        t.currentDirection !== 'stopped',
    );
  if (reusable) {
    reusable.direction = 'sendrecv';
    return reusable.sender;
  }
  return pc.addTransceiver(kind, { direction: 'sendrecv' }).sender;
}
