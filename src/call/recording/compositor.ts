/**
 * The picture of a recording: the call as the recorder sees it, drawn to one canvas. Every
 * source (each person's camera, any shared screen, our own camera) plays in a video element
 * of its own (not attached to the page) and is drawn, scaled to fit, in a grid; a shared
 * screen takes the big place on the left with the cameras in a column beside it. Names are
 * drawn as text under each picture; a source without video shows its name on a dark tile.
 * The canvas is captured at FPS frames a second (the recorder's video track).
 *
 * This canvas path is what browsers without frame streams (Firefox) use. Chromium uses
 * frame-compositor.ts, which makes the same picture from the frames' pixels: drawing video on
 * a canvas fills Chromium's image cache with every frame (hundreds of MiB, see there).
 */

export interface CompositorSource {
  /** Stable per source (person key + source). */
  readonly key: string;
  readonly label: string;
  readonly stream: MediaStream | null;
  readonly screen: boolean;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The recording's picture: a video track, redrawn at once on `draw()`, ended by `stop()`. */
export interface RecordingPicture {
  readonly track: MediaStreamTrack;
  draw(): void;
  stop(): void;
}

export const WIDTH = 960;
export const HEIGHT = 540;
export const FPS = 15;
const GAP = 4;

/**
 * Where each source goes on a `width`×`height` picture (in the order given). With a screen
 * (the first one): it fills the left three quarters, the others share the right column.
 * Otherwise a grid as square as it can be.
 */
export function layout(sources: readonly { screen: boolean }[], width: number, height: number): Rect[] {
  const n = sources.length;
  if (n === 0) return [];
  const screenAt = sources.findIndex((s) => s.screen);
  if (screenAt >= 0 && n > 1) {
    const bigW = Math.round(width * 0.75);
    const rest = n - 1;
    const cellH = (height - GAP * (rest - 1)) / rest;
    let row = 0;
    return sources.map((_, i) => {
      if (i === screenAt) return { x: 0, y: 0, w: bigW - GAP, h: height };
      const rect = { x: bigW, y: row * (cellH + GAP), w: width - bigW, h: cellH };
      row += 1;
      return rect;
    });
  }
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const cellW = (width - GAP * (cols - 1)) / cols;
  const cellH = (height - GAP * (rows - 1)) / rows;
  return sources.map((_, i) => ({
    x: (i % cols) * (cellW + GAP),
    y: Math.floor(i / cols) * (cellH + GAP),
    w: cellW,
    h: cellH,
  }));
}

/** `inner` (w×h) scaled to fit in `box`, centred. */
export function fitInside(w: number, h: number, box: Rect): Rect {
  if (w <= 0 || h <= 0) return box;
  const scale = Math.min(box.w / w, box.h / h);
  const fw = w * scale;
  const fh = h * scale;
  return { x: box.x + (box.w - fw) / 2, y: box.y + (box.h - fh) / 2, w: fw, h: fh };
}

export class Compositor implements RecordingPicture {
  readonly canvas: HTMLCanvasElement;
  readonly #context: CanvasRenderingContext2D;
  readonly #videos = new Map<string, HTMLVideoElement>();
  readonly track: MediaStreamTrack;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly sources: () => readonly CompositorSource[]) {
    this.canvas = document.createElement('canvas');
    this.canvas.width = WIDTH;
    this.canvas.height = HEIGHT;
    const context = this.canvas.getContext('2d', { alpha: false });
    if (!context) throw new Error('This browser cannot draw the recording.');
    this.#context = context;
    this.draw();
    const track = this.canvas.captureStream(FPS).getVideoTracks()[0];
    if (!track) throw new Error('This browser cannot record the call.');
    this.track = track;
    this.#timer = setInterval(() => this.draw(), 1000 / FPS);
  }

  /** One frame of the call as it is now. */
  draw(): void {
    const g = this.#context;
    g.fillStyle = '#111418';
    g.fillRect(0, 0, WIDTH, HEIGHT);
    const sources = this.sources();
    this.#sync(sources);
    const rects = layout(sources, WIDTH, HEIGHT);
    g.font = '600 16px system-ui, sans-serif';
    g.textBaseline = 'bottom';
    sources.forEach((source, i) => {
      const box = rects[i];
      if (!box) return;
      const video = this.#videos.get(source.key);
      const playing = video && video.readyState >= 2 && video.videoWidth > 0 && hasLiveVideo(source.stream);
      if (playing) {
        const r = fitInside(video.videoWidth, video.videoHeight, box);
        g.drawImage(video, r.x, r.y, r.w, r.h);
      } else {
        g.fillStyle = '#262b33';
        g.fillRect(box.x, box.y, box.w, box.h);
      }
      // The name, as text, on a dark band (never markup).
      const text = source.label;
      const width = Math.min(g.measureText(text).width + 12, box.w);
      g.fillStyle = 'rgb(0 0 0 / 0.55)';
      g.fillRect(box.x, box.y + box.h - 24, width, 24);
      g.fillStyle = '#ffffff';
      g.fillText(text, box.x + 6, box.y + box.h - 4, box.w - 12);
    });
  }

  /** One playing (muted, detached) video element per source with a stream. */
  #sync(sources: readonly CompositorSource[]): void {
    const wanted = new Set<string>();
    for (const source of sources) {
      if (!source.stream) continue;
      wanted.add(source.key);
      let video = this.#videos.get(source.key);
      if (!video) {
        video = document.createElement('video');
        video.muted = true;
        video.playsInline = true;
        this.#videos.set(source.key, video);
      }
      if (video.srcObject !== source.stream) {
        video.srcObject = source.stream;
        void video.play().catch(() => {});
      }
    }
    for (const [key, video] of this.#videos) {
      if (wanted.has(key)) continue;
      video.srcObject = null;
      this.#videos.delete(key);
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.track.stop();
    for (const video of this.#videos.values()) video.srcObject = null;
    this.#videos.clear();
  }
}

function hasLiveVideo(stream: MediaStream | null): boolean {
  return !!stream?.getVideoTracks().some((t) => t.readyState === 'live' && t.enabled);
}
