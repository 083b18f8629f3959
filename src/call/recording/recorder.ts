/**
 * MediaRecorder over the composed call (compositor.ts for the picture, mixer.ts for the
 * voices), written to disk as it comes: every second's chunk goes to a FileSink (the same
 * sinks as received files: OPFS from a worker on the guest page, the offscreen document in
 * the extension), so an hour-long recording does not grow memory. WebM with VP8 (cheaper to
 * encode than VP9, which is the fallback) and Opus.
 */
import type { FileSink } from '../files/file-sink.ts';

/** The first WebM type this browser records, or null when it records none. */
export function pickMimeType(
  isTypeSupported: (type: string) => boolean = (t) =>
    typeof MediaRecorder !== 'undefined' && MediaRecorder.isTypeSupported(t),
): string | null {
  for (const type of ['video/webm;codecs=vp8,opus', 'video/webm;codecs=vp9,opus', 'video/webm']) {
    if (isTypeSupported(type)) return type;
  }
  return null;
}

/** Can this page record a call at all (MediaRecorder, canvas capture, Web Audio)? */
export function canRecord(): boolean {
  return (
    typeof MediaRecorder !== 'undefined' &&
    typeof AudioContext !== 'undefined' &&
    typeof HTMLCanvasElement !== 'undefined' &&
    typeof HTMLCanvasElement.prototype.captureStream === 'function' &&
    pickMimeType() !== null
  );
}

/**
 * "Parley recording 2026-12-03 14-05-09.webm" (local time, to the second, so that two
 * recordings of one minute do not share a name; no characters file systems refuse).
 */
export function recordingFileName(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const day = `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())}`;
  return `Parley recording ${day} ${two(at.getHours())}-${two(at.getMinutes())}-${two(at.getSeconds())}.webm`;
}

/** How often MediaRecorder hands over a chunk (each is written to disk at once). */
export const CHUNK_MS = 1000;

/** When stopping: how often the paused recorder is asked for what is left, and for how long at most. */
const DRAIN_POLL_MS = 250;
const DRAIN_MAX_MS = 5000;

export interface RecorderOptions {
  /** Bits per second for the picture (the composition is one 960×540 picture). */
  videoBitsPerSecond?: number;
  /** Bytes written so far (for the UI), or the sentence when writing failed. */
  onProgress?(bytes: number): void;
  onError?(message: string): void;
}

export class CallRecorder {
  readonly #recorder: MediaRecorder;
  readonly mimeType: string;
  #writes: Promise<void> = Promise.resolve();
  #bytes = 0;
  #failed: string | null = null;
  #stopped: Promise<void> | null = null;

  constructor(
    stream: MediaStream,
    private readonly sink: FileSink,
    private readonly options: RecorderOptions = {},
  ) {
    const mimeType = pickMimeType();
    if (!mimeType) throw new Error('This browser cannot record the call.');
    this.mimeType = mimeType;
    this.#recorder = new MediaRecorder(stream, {
      mimeType,
      videoBitsPerSecond: options.videoBitsPerSecond ?? 1_000_000,
      audioBitsPerSecond: 64_000,
    });
    this.#recorder.addEventListener('dataavailable', (event) => this.#write(event.data));
    this.#recorder.addEventListener('error', () =>
      this.fail('The recording stopped: the browser could not record.'),
    );
  }

  get state(): RecordingState {
    return this.#recorder.state;
  }

  /** Bytes handed to the sink so far. */
  get bytes(): number {
    return this.#bytes;
  }

  start(): void {
    if (this.#recorder.state === 'inactive' && !this.#stopped) this.#recorder.start(CHUNK_MS);
  }

  /** Nothing is recorded while paused (a newcomer has not allowed yet). */
  pause(): void {
    if (this.#recorder.state === 'recording') this.#recorder.pause();
  }

  resume(): void {
    if (this.#recorder.state === 'paused') this.#recorder.resume();
  }

  /**
   * Stop, write the last chunk and close the file. Rejects when writing failed (what was
   * written is deleted).
   */
  async finish(): Promise<File> {
    this.#stopped ??= this.#stop();
    await this.#stopped;
    await this.#writes;
    if (this.#failed) {
      await this.sink.discard();
      throw new Error(this.#failed);
    }
    this.sink.flush?.();
    return this.sink.close();
  }

  /**
   * Pause first, so that nothing after this moment is recorded, and stop once the encoder has
   * handed over what it still held: `MediaRecorder.stop()` at once drops the frames still being
   * encoded, which on a busy machine were the last second or two of picture (measured on 2
   * loaded cores: the last frame at 3.2 s of a 5.1 s recording; with the drain, at 4.95 s).
   */
  async #stop(): Promise<void> {
    const recorder = this.#recorder;
    if (recorder.state === 'recording') recorder.pause();
    await this.#drain();
    if (recorder.state === 'inactive') return;
    await new Promise<void>((resolve) => {
      // The last 'dataavailable' comes before 'stop'.
      recorder.addEventListener('stop', () => resolve(), { once: true });
      recorder.stop();
    });
  }

  /**
   * While paused, ask for what was encoded every DRAIN_POLL_MS until three answers in a row are
   * empty (the encoder is done, or starved for that long on a busy machine), DRAIN_MAX_MS at
   * most. What comes is written as usual.
   */
  async #drain(): Promise<void> {
    const recorder = this.#recorder;
    const until = performance.now() + DRAIN_MAX_MS;
    let empty = 0;
    while (empty < 3 && recorder.state === 'paused' && performance.now() < until) {
      const size = await new Promise<number>((resolve) => {
        const timer = setTimeout(() => resolve(0), DRAIN_POLL_MS * 5);
        recorder.addEventListener(
          'dataavailable',
          (event) => {
            clearTimeout(timer);
            resolve(event.data.size);
          },
          { once: true },
        );
        recorder.requestData();
      });
      empty = size === 0 ? empty + 1 : 0;
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }

  /** Drop everything (the call page is going away). */
  async discard(): Promise<void> {
    if (this.#recorder.state !== 'inactive') this.#recorder.stop();
    this.#failed ??= 'discarded';
    await this.#writes;
    await this.sink.discard();
  }

  #write(data: Blob): void {
    if (data.size === 0) return;
    // In order: each chunk's bytes are read, then handed over, before the next one.
    this.#writes = this.#writes.then(async () => {
      if (this.#failed) return;
      try {
        const bytes = new Uint8Array(await data.arrayBuffer());
        this.sink.write(bytes);
        this.#bytes += bytes.byteLength;
        this.options.onProgress?.(this.#bytes);
      } catch {
        this.fail('The recording could not be written to disk.');
      }
    });
  }

  /** Writing failed (the sink says so: disk full, storage gone): the recording stops. */
  fail(message: string): void {
    if (this.#failed) return;
    this.#failed = message;
    if (this.#recorder.state !== 'inactive') this.#recorder.stop();
    this.options.onError?.(message);
  }
}
