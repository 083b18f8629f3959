/**
 * Thumbnails for outgoing files: images in a worker (createImageBitmap + OffscreenCanvas),
 * videos from a frame of a hidden <video>, nothing for other types (the UI shows an icon).
 * Always resolves (null when there is no thumbnail), within THUMB_DEADLINE_MS.
 */
import { fitInside, THUMB_TARGET_BYTES, type Thumbnail } from './thumbnail-fit.ts';

export type { Thumbnail } from './thumbnail-fit.ts';

/** A thumbnail that takes longer than this is skipped so the body is not held back. */
const THUMB_DEADLINE_MS = 4000;
/** Decoding images this big only for a thumbnail is not worth the memory. */
const MAX_IMAGE_BYTES = 200 * 1024 * 1024;

export class ThumbnailMaker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, (thumbnail: Thumbnail | null) => void>();

  async make(file: File): Promise<Thumbnail | null> {
    const kind = file.type.split('/')[0];
    let work: Promise<Thumbnail | null>;
    if (kind === 'image' && file.type !== 'image/svg+xml' && file.size <= MAX_IMAGE_BYTES)
      work = this.image(file);
    else if (kind === 'video' && typeof document !== 'undefined') work = videoFrame(file);
    else return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), THUMB_DEADLINE_MS);
    });
    try {
      return await Promise.race([work.catch(() => null), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private image(file: File): Promise<Thumbnail | null> {
    if (!this.worker) {
      this.worker = new Worker(new URL('./thumbnail.worker.ts', import.meta.url), {
        type: 'module',
        name: 'parley-thumbnails',
      });
      this.worker.onmessage = (event: MessageEvent<{ id: number; thumbnail: Thumbnail | null }>) => {
        this.waiting.get(event.data.id)?.(event.data.thumbnail);
        this.waiting.delete(event.data.id);
      };
    }
    const id = this.nextId++;
    const worker = this.worker;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      worker.postMessage({ id, file });
    });
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
    for (const resolve of this.waiting.values()) resolve(null);
    this.waiting.clear();
  }
}

/** A frame about a tenth into the video (at most 1 s in), drawn on a canvas. */
async function videoFrame(file: File): Promise<Thumbnail | null> {
  const url = URL.createObjectURL(file);
  const video = document.createElement('video');
  video.muted = true;
  video.preload = 'auto';
  video.playsInline = true;
  try {
    video.src = url;
    await once(video, 'loadedmetadata');
    const at = Number.isFinite(video.duration) ? Math.min(1, video.duration / 10) : 0;
    video.currentTime = at;
    await once(video, 'seeked');
    if (!video.videoWidth || !video.videoHeight) return null;
    const { width, height } = fitInside(video.videoWidth, video.videoHeight);
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.getContext('2d')?.drawImage(video, 0, 0, width, height);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.7));
    return blob && blob.size <= THUMB_TARGET_BYTES ? { blob, width, height } : null;
  } finally {
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  }
}

function once(target: HTMLVideoElement, type: string): Promise<void> {
  return new Promise((resolve, reject) => {
    target.addEventListener(type, () => resolve(), { once: true });
    target.addEventListener('error', () => reject(new Error('video')), { once: true });
  });
}
