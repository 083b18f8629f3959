/**
 * The local camera and microphone. Audio-only calls never ask for video. Muting flips
 * `track.enabled` (the peer receives silence, no renegotiation). Turning the camera off
 * stops the camera track so its light goes off; turning it back on opens a new track that
 * the session swaps in with `RTCRtpSender.replaceTrack` (no renegotiation either).
 */

export type CallMedia = 'video' | 'audio';

export type MediaErrorCode = 'blocked' | 'not-found' | 'busy' | 'unsupported' | 'aborted' | 'unknown';

export class MediaAccessError extends Error {
  constructor(
    readonly code: MediaErrorCode,
    message: string,
    /** Video was asked for: the UI can offer to continue with audio only. */
    readonly canFallBackToAudio: boolean,
  ) {
    super(message);
    this.name = 'MediaAccessError';
  }
}

export const AUDIO_CONSTRAINTS: MediaTrackConstraints = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

export const VIDEO_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 30 },
};

/** Map a getUserMedia failure to a sentence a person can act on. */
export function describeMediaError(err: unknown, media: CallMedia): MediaAccessError {
  const name =
    err instanceof Error || (typeof err === 'object' && err !== null && 'name' in err)
      ? String((err as { name: unknown }).name)
      : '';
  const devices = media === 'video' ? 'Camera and microphone are' : 'The microphone is';
  const video = media === 'video';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new MediaAccessError(
        'blocked',
        `${devices} blocked for this page. Allow access in the browser's address bar (the camera icon), then try again.`,
        video,
      );
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new MediaAccessError(
        'not-found',
        video
          ? 'No camera or microphone was found. Plug one in, or continue with audio only.'
          : 'No microphone was found. Plug one in and try again.',
        video,
      );
    case 'NotReadableError':
    case 'TrackStartError':
      return new MediaAccessError(
        'busy',
        video
          ? 'The camera or microphone is in use by another app, or failed to start. Close the other app and try again.'
          : 'The microphone is in use by another app, or failed to start. Close the other app and try again.',
        video,
      );
    case 'AbortError':
      return new MediaAccessError(
        'aborted',
        'Starting the camera or microphone was interrupted. Try again.',
        video,
      );
    case 'TypeError':
      return new MediaAccessError(
        'unsupported',
        'This browser cannot open a camera or microphone here.',
        false,
      );
    default:
      return new MediaAccessError(
        'unknown',
        'The camera or microphone could not be started. Try again.',
        video,
      );
  }
}

export async function acquireLocalMedia(media: CallMedia): Promise<MediaStream> {
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: AUDIO_CONSTRAINTS,
      ...(media === 'video' ? { video: VIDEO_CONSTRAINTS } : {}),
    });
  } catch (err) {
    throw describeMediaError(err, media);
  }
}

export class LocalMedia {
  private cameraOn: boolean;

  constructor(
    readonly stream: MediaStream,
    readonly media: CallMedia,
  ) {
    this.cameraOn = media === 'video' && stream.getVideoTracks().some((t) => t.readyState === 'live');
  }

  get audioTrack(): MediaStreamTrack | null {
    return this.stream.getAudioTracks()[0] ?? null;
  }

  get videoTrack(): MediaStreamTrack | null {
    return this.stream.getVideoTracks()[0] ?? null;
  }

  get micEnabled(): boolean {
    return this.audioTrack?.enabled ?? false;
  }

  get cameraEnabled(): boolean {
    return this.cameraOn;
  }

  setMicEnabled(on: boolean): void {
    for (const track of this.stream.getAudioTracks()) track.enabled = on;
  }

  /**
   * Camera off stops the track (light off) and resolves null; on opens a new one and
   * resolves it. Either way the caller swaps it into its senders with replaceTrack.
   */
  async setCameraEnabled(on: boolean): Promise<MediaStreamTrack | null> {
    if (this.media !== 'video') return null;
    if (!on) {
      this.cameraOn = false;
      for (const track of this.stream.getVideoTracks()) {
        track.stop();
        this.stream.removeTrack(track);
      }
      return null;
    }
    if (this.cameraOn && this.videoTrack) return this.videoTrack;
    let fresh: MediaStream;
    try {
      fresh = await navigator.mediaDevices.getUserMedia({ video: VIDEO_CONSTRAINTS });
    } catch (err) {
      throw describeMediaError(err, 'video');
    }
    const track = fresh.getVideoTracks()[0];
    if (!track) throw new MediaAccessError('not-found', 'No camera was found.', false);
    this.stream.addTrack(track);
    this.cameraOn = true;
    return track;
  }

  /** Stop every track: the camera light goes off. */
  stop(): void {
    for (const track of this.stream.getTracks()) track.stop();
    this.cameraOn = false;
  }
}
