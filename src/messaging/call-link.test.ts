import { describe, expect, it } from 'vitest';
import { parseShareLink } from '../protocol/link.ts';
import { formatCallLink, linkMedia } from './call-link.ts';

const link = {
  server: 'http://localhost:8787',
  room: 'AAAAAAAAAAAAAAAAAAAAAA',
  secret: 'BBBBBBBBBBBBBBBBBBBBBB',
};

describe('call links', () => {
  it('marks audio-only calls so whoever joins is never asked for a camera', () => {
    const text = formatCallLink(link, 'audio');
    expect(text).toBe('http://localhost:8787/r/AAAAAAAAAAAAAAAAAAAAAA?media=audio#BBBBBBBBBBBBBBBBBBBBBB');
    expect(linkMedia(text)).toBe('audio');
    expect(parseShareLink(text)).toEqual(link);
  });

  it('leaves video links in the plain form', () => {
    const text = formatCallLink(link, 'video');
    expect(text).toBe('http://localhost:8787/r/AAAAAAAAAAAAAAAAAAAAAA#BBBBBBBBBBBBBBBBBBBBBB');
    expect(linkMedia(text)).toBe('video');
  });

  it('treats text that is not a URL as a video link (the parser rejects it anyway)', () => {
    expect(linkMedia('not a link')).toBe('video');
  });
});
