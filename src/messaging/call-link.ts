/**
 * The share link as people see it. An audio-only call's link carries `?media=audio` (the
 * guest page reads it and never asks for a camera; so does the popup's Join). The query sits
 * before the fragment, so the server sees it and the secret still stays in the fragment.
 */
import { formatShareLink, type ShareLink } from '../protocol/link.ts';
import type { CallMedia } from './messages.ts';

export function formatCallLink(link: ShareLink, media: CallMedia): string {
  if (media === 'video') return formatShareLink(link);
  const base = formatShareLink({ ...link, secret: '' }).replace(/#$/, '');
  return `${base}?media=audio#${link.secret}`;
}

/** The media of the call a pasted link belongs to. */
export function linkMedia(text: string): CallMedia {
  try {
    return new URL(text.trim()).searchParams.get('media') === 'audio' ? 'audio' : 'video';
  } catch {
    return 'video';
  }
}
