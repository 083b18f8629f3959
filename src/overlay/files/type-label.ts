/** The short label on a file card that has no thumbnail ("PDF", "ZIP", "MP3"…). */
export function typeLabel(mime: string, name: string): string {
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? name.slice(dot + 1) : '';
  if (/^[a-z0-9]{1,4}$/i.test(extension)) return extension.toUpperCase();
  const kind = mime.split('/')[0];
  if (kind === 'image') return 'IMG';
  if (kind === 'video') return 'VIDEO';
  if (kind === 'audio') return 'AUDIO';
  if (kind === 'text') return 'TXT';
  return 'FILE';
}

export type ViewerKind = 'image' | 'video' | 'audio' | 'text' | null;

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-yaml|yaml|csv|x-sh)$)/;
const TEXT_EXTENSIONS =
  /\.(txt|md|csv|json|log|xml|ya?ml|ini|toml|js|ts|py|rs|go|c|h|cpp|java|sh|css|html?)$/i;

/**
 * How "Open" shows a received file inside the overlay, or null when it cannot be shown
 * safely (then only Save is offered). Images, video and audio go in media elements, text in a
 * <pre> as text; nothing is rendered as a document in our origin, nothing runs.
 */
export function viewerKind(mime: string, name: string): ViewerKind {
  if (/^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(mime)) return 'image';
  if (mime.startsWith('video/')) return 'video';
  if (mime.startsWith('audio/')) return 'audio';
  if (TEXT_TYPES.test(mime) || (mime === '' && TEXT_EXTENSIONS.test(name))) return 'text';
  return null;
}
