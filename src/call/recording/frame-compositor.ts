/**
 * The recording's picture made from the frames themselves (Chromium), without drawing video
 * on a canvas. Drawing video frames on a 2D canvas (drawImage of a <video>, a VideoFrame or an
 * ImageBitmap), and MediaRecorder reading a canvas or RGB frames, both keep every frame in
 * Chromium's image cache (cc "image_memory", discardable shared memory) until a budget of
 * several hundred MiB is full: measured on this project's bench, the recorder's page grew by
 * ~400 MiB in its first 30 s of recording that way. Here no picture is ever an "image":
 *
 * - each source's video track (a clone) is read frame by frame (MediaStreamTrackProcessor);
 *   the latest frame is kept, the others closed at once;
 * - FPS times a second (and never more), each source's latest frame is copied out as RGBA
 *   pixels (VideoFrame.copyTo), scaled into its place in one 960×540 RGBA picture, names are
 *   blended on it (each name drawn once on a small canvas as text, then reused as pixels);
 * - the picture is converted to I420 and written as a VideoFrame to a
 *   MediaStreamTrackGenerator, whose track MediaRecorder encodes as it would a camera's.
 *
 * A picture is made when a source's frame arrives (so a recording in a background tab, where
 * timers run once a second, keeps its frame rate: test/e2e/recording-background.test.ts) and
 * on a timer for calls without video.
 * Browsers without these APIs (Firefox) use the canvas compositor (compositor.ts).
 */

import type { CompositorSource } from './compositor.ts';
import { FPS, fitInside, HEIGHT, layout, type RecordingPicture, type Rect, WIDTH } from './compositor.ts';

interface TrackProcessorConstructor {
  new (init: { track: MediaStreamTrack; maxBufferSize?: number }): { readable: ReadableStream<VideoFrame> };
}
interface TrackGeneratorConstructor {
  new (init: { kind: 'video' }): MediaStreamTrack & { writable: WritableStream<VideoFrame> };
}

function apis(): { Processor: TrackProcessorConstructor; Generator: TrackGeneratorConstructor } | null {
  const g = globalThis as unknown as {
    MediaStreamTrackProcessor?: TrackProcessorConstructor;
    MediaStreamTrackGenerator?: TrackGeneratorConstructor;
    VideoFrame?: unknown;
  };
  if (!g.MediaStreamTrackProcessor || !g.MediaStreamTrackGenerator || !g.VideoFrame) return null;
  return { Processor: g.MediaStreamTrackProcessor, Generator: g.MediaStreamTrackGenerator };
}

/** Can this page make the picture from frames (Chromium)? */
export function canComposeFrames(): boolean {
  return apis() !== null;
}

/** '#111418' and '#262b33' as little-endian RGBA words. */
const BACKGROUND = rgbaWord(0x11, 0x14, 0x18);
const EMPTY_TILE = rgbaWord(0x26, 0x2b, 0x33);
const LABEL_HEIGHT = 24;

export function rgbaWord(r: number, g: number, b: number): number {
  return ((0xff << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

/**
 * Copy `src` (sw×sh RGBA words) into `dst` (dw words a row, dh rows) scaled to fill `to`,
 * nearest pixel; what falls outside `dst` is cut.
 */
export function blitScaled(
  src: Uint32Array,
  sw: number,
  sh: number,
  dst: Uint32Array,
  dw: number,
  dh: number,
  to: Rect,
): void {
  if (sw <= 0 || sh <= 0 || to.w <= 0 || to.h <= 0) return;
  const x0 = Math.max(0, Math.round(to.x));
  const y0 = Math.max(0, Math.round(to.y));
  const x1 = Math.min(dw, Math.round(to.x + to.w));
  const y1 = Math.min(dh, Math.round(to.y + to.h));
  if (x1 <= x0 || y1 <= y0) return;
  const fx = sw / to.w;
  const fy = sh / to.h;
  const columns = new Int32Array(x1 - x0);
  for (let x = x0; x < x1; x++) columns[x - x0] = Math.min(sw - 1, Math.floor((x - to.x + 0.5) * fx));
  for (let y = y0; y < y1; y++) {
    const row = Math.min(sh - 1, Math.floor((y - to.y + 0.5) * fy)) * sw;
    const out = y * dw + x0;
    for (let i = 0; i < columns.length; i++) dst[out + i] = src[row + (columns[i] as number)] as number;
  }
}

/** Fill `rect` of `dst` (dw words a row) with one RGBA word. */
export function fillRect(dst: Uint32Array, dw: number, dh: number, rect: Rect, word: number): void {
  const x0 = Math.max(0, Math.round(rect.x));
  const x1 = Math.min(dw, Math.round(rect.x + rect.w));
  for (let y = Math.max(0, Math.round(rect.y)); y < Math.min(dh, Math.round(rect.y + rect.h)); y++) {
    dst.fill(word, y * dw + x0, y * dw + x1);
  }
}

/**
 * Blend `src` (sw×sh straight-alpha RGBA bytes) onto `dst` (dw×dh RGBA bytes, opaque) with
 * its top-left corner at (x, y).
 */
export function blend(
  src: Uint8ClampedArray,
  sw: number,
  sh: number,
  dst: Uint8ClampedArray,
  dw: number,
  dh: number,
  x: number,
  y: number,
): void {
  const left = Math.round(x);
  const top = Math.round(y);
  for (let row = 0; row < sh; row++) {
    const dy = top + row;
    if (dy < 0 || dy >= dh) continue;
    for (let col = 0; col < sw; col++) {
      const dx = left + col;
      if (dx < 0 || dx >= dw) continue;
      const s = (row * sw + col) * 4;
      const a = src[s + 3] as number;
      if (a === 0) continue;
      const d = (dy * dw + dx) * 4;
      for (let c = 0; c < 3; c++) {
        dst[d + c] = ((src[s + c] as number) * a + (dst[d + c] as number) * (255 - a) + 127) / 255;
      }
    }
  }
}

/**
 * RGBA (w×h, w and h even) to I420 (BT.601, limited range) in `out` (w·h·3/2 bytes): a luma
 * sample a pixel, one chroma pair for each 2×2 block (its top-left pixel).
 */
export function rgbaToI420(rgba: Uint8ClampedArray, w: number, h: number, out: Uint8Array): void {
  const uAt = w * h;
  const vAt = uAt + (w / 2) * (h / 2);
  for (let y = 0; y < h; y++) {
    let i = y * w * 4;
    const o = y * w;
    for (let x = 0; x < w; x++, i += 4) {
      out[o + x] =
        (66 * (rgba[i] as number) + 129 * (rgba[i + 1] as number) + 25 * (rgba[i + 2] as number) + 4224) >> 8;
    }
  }
  for (let y = 0; y < h; y += 2) {
    let o = (y / 2) * (w / 2);
    for (let x = 0; x < w; x += 2, o++) {
      const i = (y * w + x) * 4;
      const r = rgba[i] as number;
      const g = rgba[i + 1] as number;
      const b = rgba[i + 2] as number;
      out[uAt + o] = (-38 * r - 74 * g + 112 * b + 32896) >> 8;
      out[vAt + o] = (112 * r - 94 * g - 18 * b + 32896) >> 8;
    }
  }
}

interface SourceReader {
  /** Our clone of the source's video track (stopped when the reader goes). */
  readonly track: MediaStreamTrack;
  readonly original: MediaStreamTrack;
  readonly reader: ReadableStreamDefaultReader<VideoFrame>;
  /** The newest frame not yet copied out (older ones are closed as newer ones come). */
  latest: VideoFrame | null;
  /** The last frame copied out, as RGBA words. */
  pixels: Uint32Array | null;
  width: number;
  height: number;
  /** A read() is pending (a frame may be on its way to it). */
  reading: boolean;
  /** No longer wanted: released once no frame is on its way (see #drop). */
  dropped: boolean;
  /** Releases it anyway when no frame comes (a source that went quiet). */
  releaseTimer?: ReturnType<typeof setTimeout>;
}

/** How long a dropped source waits for a frame on its way before it is released anyway. */
const RELEASE_WAIT_MS = 1000;

export class FrameCompositor implements RecordingPicture {
  readonly track: MediaStreamTrack;
  readonly #writer: WritableStreamDefaultWriter<VideoFrame>;
  readonly #processor: TrackProcessorConstructor;
  readonly #readers = new Map<string, SourceReader>();
  readonly #rgba = new Uint8ClampedArray(WIDTH * HEIGHT * 4);
  readonly #words = new Uint32Array(this.#rgba.buffer);
  readonly #i420 = new Uint8Array((WIDTH * HEIGHT * 3) / 2);
  readonly #labels = new Map<string, ImageData>();
  readonly #timer: ReturnType<typeof setInterval>;
  #composing = false;
  #again = false;
  #lastAt = Number.NEGATIVE_INFINITY;
  #stopped = false;

  constructor(private readonly sources: () => readonly CompositorSource[]) {
    const found = apis();
    if (!found) throw new Error('This browser cannot record the call.');
    this.#processor = found.Processor;
    const generator = new found.Generator({ kind: 'video' });
    this.track = generator;
    this.#writer = generator.writable.getWriter();
    this.draw();
    this.#timer = setInterval(() => this.#tick(), 1000 / FPS);
  }

  /** Make a picture of the call as it is now (soon, and at most FPS a second). */
  draw(): void {
    this.#lastAt = Number.NEGATIVE_INFINITY;
    this.#tick();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const key of [...this.#readers.keys()]) this.#drop(key);
    void this.#writer.close().catch(() => {});
    this.track.stop();
  }

  #tick(): void {
    if (this.#stopped) return;
    if (this.#composing) {
      this.#again = true;
      return;
    }
    if (performance.now() - this.#lastAt < 1000 / FPS - 4) return;
    this.#lastAt = performance.now();
    this.#composing = true;
    void this.#compose()
      .catch(() => {})
      .finally(() => {
        this.#composing = false;
        if (this.#again) {
          this.#again = false;
          this.#tick();
        }
      });
  }

  async #compose(): Promise<void> {
    const sources = this.sources();
    this.#sync(sources);
    const rects = layout(sources, WIDTH, HEIGHT);
    const pictures = await Promise.all(sources.map((source) => this.#pictureOf(source)));
    if (this.#stopped) return;
    this.#words.fill(BACKGROUND);
    sources.forEach((source, i) => {
      const box = rects[i];
      if (!box) return;
      const picture = pictures[i];
      if (picture?.pixels) {
        const r = fitInside(picture.width, picture.height, box);
        blitScaled(picture.pixels, picture.width, picture.height, this.#words, WIDTH, HEIGHT, r);
      } else {
        fillRect(this.#words, WIDTH, HEIGHT, box, EMPTY_TILE);
      }
      const label = this.#label(source.label, Math.floor(box.w));
      if (label) {
        blend(
          label.data,
          label.width,
          label.height,
          this.#rgba,
          WIDTH,
          HEIGHT,
          box.x,
          box.y + box.h - LABEL_HEIGHT,
        );
      }
    });
    rgbaToI420(this.#rgba, WIDTH, HEIGHT, this.#i420);
    const frame = new VideoFrame(this.#i420, {
      format: 'I420',
      codedWidth: WIDTH,
      codedHeight: HEIGHT,
      timestamp: Math.round(performance.now() * 1000),
      colorSpace: { matrix: 'smpte170m', primaries: 'smpte170m', transfer: 'smpte170m', fullRange: false },
    });
    // A recorder that cannot keep up skips pictures rather than queueing them.
    if ((this.#writer.desiredSize ?? 0) > 0) void this.#writer.write(frame).catch(() => frame.close());
    else frame.close();
  }

  /** The source's latest picture as RGBA words (copied out of its newest frame), or null. */
  async #pictureOf(source: CompositorSource): Promise<SourceReader | null> {
    const reader = this.#readers.get(source.key);
    if (reader?.original.readyState !== 'live' || !reader.original.enabled) return null;
    const frame = reader.latest;
    if (frame) {
      reader.latest = null;
      try {
        const rect = frame.visibleRect;
        const width = rect?.width ?? frame.displayWidth;
        const height = rect?.height ?? frame.displayHeight;
        if (!reader.pixels || reader.width !== width || reader.height !== height) {
          reader.pixels = new Uint32Array(width * height);
          reader.width = width;
          reader.height = height;
        }
        await frame.copyTo(new Uint8Array(reader.pixels.buffer), {
          format: 'RGBA',
        } as VideoFrameCopyToOptions);
      } finally {
        frame.close();
      }
    }
    return reader.pixels ? reader : null;
  }

  /** A frame reader for each source with video; gone sources' readers closed. */
  #sync(sources: readonly CompositorSource[]): void {
    const wanted = new Set<string>();
    for (const source of sources) {
      const original = source.stream?.getVideoTracks()[0];
      if (!original) continue;
      wanted.add(source.key);
      if (this.#readers.get(source.key)?.original === original) continue;
      this.#drop(source.key);
      const track = original.clone();
      const reader = new this.#processor({ track, maxBufferSize: 1 }).readable.getReader();
      const entry: SourceReader = {
        track,
        original,
        reader,
        latest: null,
        pixels: null,
        width: 0,
        height: 0,
        reading: false,
        dropped: false,
      };
      this.#readers.set(source.key, entry);
      void this.#read(entry);
    }
    for (const key of [...this.#readers.keys()]) if (!wanted.has(key)) this.#drop(key);
  }

  async #read(entry: SourceReader): Promise<void> {
    try {
      for (;;) {
        entry.reading = true;
        const { value, done } = await entry.reader.read();
        entry.reading = false;
        if (done || !value) break;
        if (this.#stopped || entry.dropped) {
          value.close();
          break;
        }
        entry.latest?.close();
        entry.latest = value;
        this.#tick();
      }
    } catch {
      // The track ended or the reader was cancelled.
    }
    entry.reading = false;
    this.#release(entry);
  }

  /**
   * Stop using a source. Its reader is cancelled only while no read() is pending: Chromium
   * makes the VideoFrame for a pending read a task before handing it over, and one made just
   * before the cancel is dropped unclosed ("A VideoFrame was garbage collected without being
   * closed", seen on a loaded machine when a recording stopped or a person left; reproduced
   * with a camera's clone read and cancelled 150 times: 3 of 3 pages warned, none when the
   * cancel came right after a frame). So a source being read is released by its read loop as
   * the next frame comes (closed at once), or after RELEASE_WAIT_MS if none does.
   */
  #drop(key: string): void {
    const entry = this.#readers.get(key);
    if (!entry) return;
    this.#readers.delete(key);
    entry.dropped = true;
    entry.latest?.close();
    entry.latest = null;
    if (!entry.reading) this.#release(entry);
    else entry.releaseTimer ??= setTimeout(() => this.#release(entry), RELEASE_WAIT_MS);
  }

  /** Cancel a source's reader and stop our clone of its track (the camera is off once all are). */
  #release(entry: SourceReader): void {
    clearTimeout(entry.releaseTimer);
    entry.dropped = true;
    void entry.reader.cancel().catch(() => {});
    entry.track.stop();
  }

  /** The name on its dark band, as straight-alpha pixels (drawn once as text on a canvas). */
  #label(text: string, maxWidth: number): ImageData | null {
    const key = `${maxWidth}\n${text}`;
    const known = this.#labels.get(key);
    if (known) return known;
    if (maxWidth <= 0 || typeof document === 'undefined') return null;
    const canvas = document.createElement('canvas');
    const g = canvas.getContext('2d', { willReadFrequently: true });
    if (!g) return null;
    g.font = '600 16px system-ui, sans-serif';
    const width = Math.max(1, Math.min(Math.ceil(g.measureText(text).width) + 12, maxWidth));
    canvas.width = width;
    canvas.height = LABEL_HEIGHT;
    // The name, as text, on a dark band (never markup).
    g.fillStyle = 'rgb(0 0 0 / 0.55)';
    g.fillRect(0, 0, width, LABEL_HEIGHT);
    g.font = '600 16px system-ui, sans-serif';
    g.textBaseline = 'bottom';
    g.fillStyle = '#ffffff';
    g.fillText(text, 6, LABEL_HEIGHT - 4, Math.max(1, maxWidth - 12));
    const pixels = g.getImageData(0, 0, width, LABEL_HEIGHT);
    if (this.#labels.size > 64) this.#labels.clear();
    this.#labels.set(key, pixels);
    return pixels;
  }
}
