import { describe, expect, it } from 'vitest';
import { typeLabel, viewerKind } from './type-label.ts';

describe('file type labels and viewers', () => {
  it('label files by extension, then by kind', () => {
    expect(typeLabel('application/pdf', 'report.pdf')).toBe('PDF');
    expect(typeLabel('audio/mpeg', 'song')).toBe('AUDIO');
    expect(typeLabel('', 'archive.verylongext')).toBe('FILE');
  });

  it('open only what a media element or a text view can show without running anything', () => {
    expect(viewerKind('image/jpeg', 'a.jpg')).toBe('image');
    expect(viewerKind('image/svg+xml', 'a.svg')).toBeNull();
    expect(viewerKind('text/html', 'a.html')).toBe('text');
    expect(viewerKind('video/mp4', 'a.mp4')).toBe('video');
    expect(viewerKind('application/pdf', 'a.pdf')).toBeNull();
    expect(viewerKind('application/x-msdownload', 'a.exe')).toBeNull();
    expect(viewerKind('', 'notes.md')).toBe('text');
  });
});
