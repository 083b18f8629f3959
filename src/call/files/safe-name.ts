/**
 * Turn a file name from the peer into one that is safe to show and to save: no path
 * separators or traversal, no control or bidi-override characters (which can disguise
 * `photo\u202Egpj.exe`), no characters Windows refuses, no reserved device names (CON, NUL…),
 * no leading dots (hidden files), at most MAX_SAFE_NAME characters with the extension kept.
 */
export const MAX_SAFE_NAME = 120;

const FORBIDDEN = /[\\/:*?"<>|]/g;
// C0/C1 controls, DEL, and Unicode format characters that reorder or hide text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

export function safeFileName(name: string, fallback = 'file'): string {
  let safe = name.normalize('NFC').replace(INVISIBLE, '').replace(FORBIDDEN, '_');
  safe = safe.replace(/_{2,}/g, '_');
  // Leading dots/underscores/spaces (traversal leftovers, hidden files) and trailing dots/spaces
  // (Windows drops them silently) go.
  safe = safe.replace(/^[.\s_]+/, '').replace(/[.\s]+$/, '');
  if (RESERVED.test(safe)) safe = `_${safe}`;
  if (safe.length > MAX_SAFE_NAME) safe = shorten(safe);
  return safe.length > 0 ? safe : fallback;
}

function shorten(name: string): string {
  const chars = Array.from(name); // by code point, never splitting a surrogate pair
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 ? Array.from(name.slice(dot)) : [];
  if (extension.length > 0 && extension.length <= 16) {
    return chars.slice(0, MAX_SAFE_NAME - extension.length).join('') + extension.join('');
  }
  return chars.slice(0, MAX_SAFE_NAME).join('');
}
