/**
 * Our microphone, camera and screen share as every connection sends them. Each connection registers its
 * two senders (audio, video) once; a new device stream, the camera going off or on again,
 * reaches all of them with `RTCRtpSender.replaceTrack` (no renegotiation, whatever the number
 * of people). Senders exist whether or not the devices are ready: a connection made before
 * the camera started gets the tracks when they come.
 */
import { acquireLocalMedia, type CallMedia, LocalMedia } from './media.ts';
import { cameraCapWhileSharing, type ScreenCapture, type ScreenSenders } from './screen-share.ts';
import { applyVideoCap, videoCap } from './uplink-budget.ts';

/** One connection's senders for our media. */
export interface MediaSenders {
  audio: RTCRtpSender | null;
  video: RTCRtpSender | null;
  /** The screen share's transceivers (src/call/screen-share.ts); absent in some tests. */
  screen?: ScreenSenders;
}

export class LocalTracks {
  #media: LocalMedia | null = null;
  #screen: ScreenCapture | null = null;
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

  /** What we share now (a screen, a window, a tab), or null. */
  get screen(): ScreenCapture | null {
    return this.#screen;
  }

  /**
   * Share this capture in every connection (and every later one), or stop sharing (null):
   * the previous capture's tracks stop. The cameras step down while sharing (rebalance).
   * False if nothing changed (or we are stopped: then the capture is stopped too).
   */
  setScreen(capture: ScreenCapture | null): boolean {
    if (this.#stopped) {
      for (const t of capture?.stream.getTracks() ?? []) t.stop();
      return false;
    }
    if (capture === this.#screen) return false;
    const previous = this.#screen;
    this.#screen = capture;
    const swaps: Promise<void>[] = [];
    for (const senders of this.#senders) if (senders.screen) swaps.push(senders.screen.set(capture));
    this.rebalance();
    // The old capture stops once no sender holds it any more (stopping a track that a sender
    // is still sending was seen to stall the page for seconds in Chromium).
    if (previous) {
      void Promise.all(swaps).then(() => {
        for (const t of previous.stream.getTracks()) t.stop();
      });
    }
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
    for (const t of this.#screen?.stream.getTracks() ?? []) t.stop();
    this.#screen = null;
    this.#senders.clear();
  }

  #fill(senders: MediaSenders): void {
    const media = this.#media;
    void senders.audio?.replaceTrack(media?.audioTrack ?? null).catch(() => {});
    if (this.#screen) void senders.screen?.set(this.#screen);
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
   * While we share a screen the camera steps down further, so the screen gets the bandwidth.
   */
  rebalance(): void {
    if (this.kind !== 'video' || this.#stopped) return;
    const budget = videoCap(this.#senders.size + 1);
    const cap = this.#screen ? cameraCapWhileSharing(budget) : budget;
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
