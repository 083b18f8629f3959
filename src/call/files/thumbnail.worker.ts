/// <reference lib="webworker" />
/**
 * Makes an image thumbnail off the main thread: decode (orientation from EXIF), scale, encode
 * as JPEG. The first decode is already scaled to the target width so a 12-megapixel photo
 * never exists as a full-size bitmap.
 */
import { fitInside, THUMB_MAX_WIDTH, THUMB_TARGET_BYTES, type Thumbnail } from './thumbnail-fit.ts';

declare const self: DedicatedWorkerGlobalScope;

export async function makeImageThumbnail(file: Blob): Promise<Thumbnail | null> {
  const bitmap = await createImageBitmap(file, {
    imageOrientation: 'from-image',
    resizeWidth: THUMB_MAX_WIDTH,
    resizeQuality: 'medium',
  });
  try {
    const { width, height } = fitInside(bitmap.width, bitmap.height);
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d');
    if (!context) return null;
    context.drawImage(bitmap, 0, 0, width, height);
    for (const quality of [0.75, 0.5]) {
      const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality });
      if (blob.size <= THUMB_TARGET_BYTES) return { blob, width, height };
    }
    return null;
  } finally {
    bitmap.close();
  }
}

self.onmessage = async (event: MessageEvent<{ id: number; file: Blob }>) => {
  const { id, file } = event.data;
  try {
    self.postMessage({ id, thumbnail: await makeImageThumbnail(file) });
  } catch {
    self.postMessage({ id, thumbnail: null });
  }
};
