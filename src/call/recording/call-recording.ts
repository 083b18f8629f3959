/**
 * One recording of the call on the recorder's side: what goes in (the people who allowed,
 * ourselves, any shared screen), the compositor and the mixer that make it one picture and one
 * sound, and the recorder writing it to a sink. The consent (consent.ts) says when it runs.
 */
import type { SinkFactory } from '../files/file-sink.ts';
import type { CallSession } from '../session.ts';
import { Compositor, type CompositorSource, type RecordingPicture } from './compositor.ts';
import { canComposeFrames, FrameCompositor } from './frame-compositor.ts';
import { AudioMixer } from './mixer.ts';
import { CallRecorder, recordingFileName } from './recorder.ts';

export interface CallRecordingOptions {
  session: CallSession;
  /** Has this person allowed their media to be recorded (now)? */
  recordable(peerId: string): boolean;
  sinks: SinkFactory;
  onProgress?(bytes: number): void;
  onError?(message: string): void;
}

type SessionView = Pick<
  CallSession,
  'remotePeers' | 'localStream' | 'cameraOn' | 'screen' | 'localName' | 'on'
>;

/** What the recording shows: allowed people's cameras and screens, our camera and screen. */
export function recordedSources(
  session: SessionView,
  recordable: (peerId: string) => boolean,
): CompositorSource[] {
  const sources: CompositorSource[] = [];
  const screens: CompositorSource[] = [];
  for (const peer of session.remotePeers) {
    if (!recordable(peer.peerId)) continue;
    const camera = peer.cameraOn && peer.tracks.camera ? peer.stream : null;
    sources.push({ key: `${peer.peerId}\ncamera`, label: peer.name, stream: camera, screen: false });
    if (peer.screen)
      screens.push({
        key: `${peer.peerId}\nscreen`,
        label: `${peer.name}: screen`,
        stream: peer.screen,
        screen: true,
      });
  }
  const own = session.cameraOn ? session.localStream : null;
  sources.push({
    key: 'self\ncamera',
    label: session.localName,
    stream: own?.getVideoTracks().length ? own : null,
    screen: false,
  });
  const screen = session.screen;
  if (screen)
    screens.push({
      key: 'self\nscreen',
      label: `${session.localName}: screen`,
      stream: screen.stream,
      screen: true,
    });
  return [...screens, ...sources];
}

/** What the recording hears: our microphone, and allowed people's microphones and tab sound. */
export function recordedVoices(
  session: SessionView,
  recordable: (peerId: string) => boolean,
): MediaStreamTrack[] {
  const tracks: MediaStreamTrack[] = [...(session.localStream?.getAudioTracks() ?? [])];
  if (session.screen?.audio) tracks.push(session.screen.audio);
  for (const peer of session.remotePeers) {
    if (!recordable(peer.peerId)) continue;
    if (peer.tracks.microphone) tracks.push(peer.tracks.microphone);
    if (peer.tracks['screen-audio']) tracks.push(peer.tracks['screen-audio']);
  }
  return tracks;
}

export class CallRecording {
  readonly #mixer: AudioMixer;
  readonly #compositor: RecordingPicture;
  readonly #offs: Array<() => void> = [];
  readonly startedAt = new Date();
  #recorder: CallRecorder | null = null;
  #starting: Promise<void> | null = null;
  #paused = false;
  #over = false;

  /** Made from the Record click: the audio context needs its user activation. */
  constructor(private readonly options: CallRecordingOptions) {
    const { session, recordable } = options;
    this.#mixer = new AudioMixer();
    const sources = () => recordedSources(session, recordable);
    this.#compositor = canComposeFrames() ? new FrameCompositor(sources) : new Compositor(sources);
    const hear = () => this.#mixer.set(recordedVoices(session, recordable));
    hear();
    this.#offs.push(session.on('peer', hear), session.on('peerRemoved', hear), session.on('local', hear));
  }

  /** Recording ever started (a file will come out of finish). */
  get started(): boolean {
    return this.#starting !== null;
  }

  /** The consent changed who may be heard: apply it now. */
  refresh(): void {
    this.#mixer.set(recordedVoices(this.options.session, this.options.recordable));
    this.#compositor.draw();
  }

  /** Everyone allowed: record (the first time, open the file on disk first). */
  run(): Promise<void> {
    this.#paused = false;
    this.refresh();
    if (this.#recorder) {
      this.#recorder.resume();
      return Promise.resolve();
    }
    this.#starting ??= this.#open();
    return this.#starting;
  }

  /** A newcomer has not allowed yet: nothing is recorded meanwhile. */
  pause(): void {
    this.#paused = true;
    this.#recorder?.pause();
    this.refresh();
  }

  /** Stop and close the file; null when nothing was recorded. Rejects when writing failed. */
  async finish(): Promise<File | null> {
    this.#over = true;
    await this.#starting?.catch(() => {});
    let file: File;
    try {
      if (!this.#recorder) return null;
      file = await this.#recorder.finish();
    } finally {
      this.#release();
    }
    return new File([file], recordingFileName(this.startedAt), {
      type: 'video/webm',
      lastModified: Date.now(),
    });
  }

  /** The page is going away: drop it. */
  discard(): void {
    this.#over = true;
    this.#release();
    void this.#recorder?.discard();
  }

  async #open(): Promise<void> {
    const name = recordingFileName(this.startedAt);
    let recorder: CallRecorder | null = null;
    const sink = await this.options.sinks.create(`recording-${crypto.randomUUID()}`, name, 'video/webm', {
      onWritten: () => {},
      onError: (message) => recorder?.fail(message),
    });
    if (this.#over) {
      await sink.discard();
      return;
    }
    recorder = new CallRecorder(new MediaStream([this.#compositor.track, this.#mixer.track]), sink, {
      ...(this.options.onProgress ? { onProgress: this.options.onProgress } : {}),
      ...(this.options.onError ? { onError: this.options.onError } : {}),
    });
    this.#recorder = recorder;
    recorder.start();
    if (this.#paused) recorder.pause();
  }

  #release(): void {
    for (const off of this.#offs.splice(0)) off();
    this.#compositor.stop();
    this.#mixer.stop();
  }
}
