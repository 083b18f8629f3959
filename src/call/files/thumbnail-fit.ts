/** Thumbnails fit 160×120 CSS pixels at 2× density. */
export const THUMB_MAX_WIDTH = 320;
export const THUMB_MAX_HEIGHT = 240;
/** What we send; a peer may send up to MAX_THUMB_BYTES. */
export const THUMB_TARGET_BYTES = 32 * 1024;

/** Largest size with the same aspect ratio that fits the box (never upscales). */
export function fitInside(
  width: number,
  height: number,
  maxWidth = THUMB_MAX_WIDTH,
  maxHeight = THUMB_MAX_HEIGHT,
) {
  const scale = Math.min(1, maxWidth / width, maxHeight / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

export interface Thumbnail {
  blob: Blob;
  width: number;
  height: number;
}
