/**
 * Sharing a screen, a window or a tab: the capture (getDisplayMedia), and one connection's
 * senders for it.
 *
 * The share is a source of its own beside the microphone and camera: its video (and the
 * tab's audio, when the browser's picker offers it and the person leaves it on) go in their
 * own transceivers, labelled with a stream id (their `msid`: the first share's capture
 * stream on that connection) which the control channel announces (`{t: 'screen', stream}`,
 * src/protocol/peer-call.ts), so the other side tells the screen from the camera although
 * both are video. Adding the
 * transceivers, or turning them off again, renegotiates (perfect negotiation,
 * peer-connection.ts); the transceivers stay on the connection and are reused by the next
 * share. While a share is on, every camera sender steps down (a quarter of the pixels, a
 * lower bitrate) so that the screen gets the bandwidth.
 */

import { FULL_FPS, type VideoCap } from './uplink-budget.ts';

/** What is being shared, as the senders need it. */
export interface ScreenCapture {
  readonly stream: MediaStream;
  readonly video: MediaStreamTrack;
  /** The tab's (or system's) audio, when the picker offered it and it was kept on. */
  readonly audio: MediaStreamTrack | null;
}

export type ScreenErrorCode = 'cancelled' | 'blocked' | 'unsupported' | 'failed';

export class ScreenShareError extends Error {
  constructor(
    readonly code: ScreenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ScreenShareError';
  }
}

/** The camera while a screen is shared: at most 360 lines (a 720p camera halves) and this bitrate. */
export const CAMERA_WHILE_SHARING = { maxHeight: 360, maxBitrate: 250_000 } as const;

/** What to ask the picker for. `tab`: this very tab ("Share this tab", the extension overlay). */
export function displayMediaOptions(what: 'screen' | 'tab'): DisplayMediaStreamOptions {
  if (what === 'tab') {
    // preferCurrentTab: Chrome's picker becomes "Share this tab?" with one Allow button.
    // No audio: this tab plays the call's own voices, which would go back to the others.
    return {
      video: { displaySurface: 'browser', frameRate: { ideal: 15, max: 30 } },
      audio: false,
      preferCurrentTab: true,
      selfBrowserSurface: 'include',
      surfaceSwitching: 'exclude',
    } as DisplayMediaStreamOptions;
  }
  return {
    video: { frameRate: { ideal: 15, max: 30 } },
    // Offered for tabs (and the whole screen on some systems); the person may turn it off.
    audio: true,
    // Sharing the tab the call is in shows the call to itself: not offered in the picker.
    selfBrowserSurface: 'exclude',
    systemAudio: 'include',
    surfaceSwitching: 'include',
  } as DisplayMediaStreamOptions;
}

/**
 * Open the browser's picker. Must be called from a click (transient activation): nothing may
 * be awaited before it. Rejects with ScreenShareError ('cancelled' when the person closed the
 * picker: no message needed).
 */
export async function captureDisplay(what: 'screen' | 'tab'): Promise<ScreenCapture> {
  const devices = typeof navigator === 'undefined' ? undefined : navigator.mediaDevices;
  if (!devices?.getDisplayMedia) {
    throw new ScreenShareError('unsupported', 'This browser cannot share a screen from here.');
  }
  let stream: MediaStream;
  try {
    stream = await devices.getDisplayMedia(displayMediaOptions(what));
  } catch (err) {
    throw describeDisplayError(err);
  }
  return captureOf(stream);
}

/** A capture from a stream getDisplayMedia gave (the video track gets the "detail" hint). */
export function captureOf(stream: MediaStream): ScreenCapture {
  const video = stream.getVideoTracks()[0];
  if (!video) {
    for (const t of stream.getTracks()) t.stop();
    throw new ScreenShareError('failed', 'The screen could not be shared. Try again.');
  }
  // Text stays sharp (the encoder keeps resolution and drops frames rather than blurring).
  video.contentHint = 'detail';
  return { stream, video, audio: stream.getAudioTracks()[0] ?? null };
}

export function describeDisplayError(err: unknown): ScreenShareError {
  const name = typeof err === 'object' && err !== null && 'name' in err ? String(err.name) : '';
  const message = err instanceof Error ? err.message : '';
  switch (name) {
    case 'NotAllowedError':
      // Chrome says "Permission denied by system" when the OS refuses; a closed picker is
      // "Permission denied" (or "by user").
      if (/system/i.test(message)) {
        return new ScreenShareError(
          'blocked',
          'Your system does not allow this browser to share the screen. Allow screen recording for it in the system settings, then try again.',
        );
      }
      return new ScreenShareError('cancelled', '');
    case 'AbortError':
      return new ScreenShareError('cancelled', '');
    case 'NotSupportedError':
    case 'TypeError':
      return new ScreenShareError('unsupported', 'This browser cannot share a screen from here.');
    default:
      return new ScreenShareError('failed', 'The screen could not be shared. Try again.');
  }
}

/**
 * One connection's screen transceivers: made on the first share, then reused (the track
 * swapped in, the direction flipped), so that sharing again does not grow the description.
 *
 * Their stream label (`msid`) stays the first capture's stream id for the connection's life,
 * and that is the id announced for every later share on it (`streamId`): relabelling a reused
 * transceiver (`RTCRtpSender.setStreams`) made Chromium negotiate a second time after each
 * re-share (its second offer even carried the first label again), so a re-share cost two
 * offer/answer rounds instead of one (bench:share's timeline). The label is only how the
 * other side tells the share from the camera; the capture's own stream id does not matter.
 */
export class ScreenSenders {
  #video: RTCRtpTransceiver | null = null;
  #audio: RTCRtpTransceiver | null = null;
  #current: ScreenCapture | null = null;
  /** The stream the transceivers are labelled with: the first capture's (see above). */
  #label: MediaStream | null = null;

  constructor(private readonly pc: RTCPeerConnection) {}

  /**
   * The stream id the share's tracks are sent in on this connection (what `{t: 'screen'}`
   * announces), or null when not sharing.
   */
  get streamId(): string | null {
    return this.#current ? (this.#label?.id ?? this.#current.stream.id) : null;
  }

  /**
   * Send this capture (or nothing). Renegotiates when the transceivers change direction.
   * Resolves once the senders hold the new tracks (the old ones may be stopped then).
   */
  set(capture: ScreenCapture | null): Promise<void> {
    if (this.pc.signalingState === 'closed' || capture === this.#current) return Promise.resolve();
    this.#current = capture;
    const swaps: Promise<void>[] = [];
    this.#video = this.#send(this.#video, capture?.video ?? null, capture?.stream ?? null, swaps);
    this.#audio = this.#send(this.#audio, capture?.audio ?? null, capture?.stream ?? null, swaps);
    return Promise.all(swaps).then(() => {});
  }

  #send(
    transceiver: RTCRtpTransceiver | null,
    track: MediaStreamTrack | null,
    stream: MediaStream | null,
    swaps: Promise<void>[],
  ): RTCRtpTransceiver | null {
    if (!transceiver || transceiver.currentDirection === 'stopped') {
      if (!track || !stream) return null;
      // A transceiver made later (the first share had no audio) joins the same label.
      this.#label ??= stream;
      return this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.#label] });
    }
    swaps.push(transceiver.sender.replaceTrack(track).catch(() => {}));
    transceiver.direction = track ? 'sendonly' : 'inactive';
    return transceiver;
  }
}

/**
 * The camera's cap while a screen is shared: the group call's uplink share for each copy
 * (src/call/uplink-budget.ts), and at most CAMERA_WHILE_SHARING; the frame rate is the budget's.
 */
export function cameraCapWhileSharing(budget: VideoCap | null): VideoCap {
  return {
    maxBitrate: Math.min(budget?.maxBitrate ?? Number.POSITIVE_INFINITY, CAMERA_WHILE_SHARING.maxBitrate),
    maxHeight: Math.min(budget?.maxHeight ?? Number.POSITIVE_INFINITY, CAMERA_WHILE_SHARING.maxHeight),
    maxFramerate: budget?.maxFramerate ?? FULL_FPS,
  };
}
