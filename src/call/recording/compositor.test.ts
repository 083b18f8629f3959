import { describe, expect, test } from 'vitest';
import { fitInside, layout } from './compositor.ts';
import { pickMimeType, recordingFileName } from './recorder.ts';

describe('the recording picture', () => {
  test('cameras share a grid without overlapping and stay inside the picture', () => {
    for (let n = 1; n <= 9; n++) {
      const rects = layout(
        Array.from({ length: n }, () => ({ screen: false })),
        960,
        540,
      );
      expect(rects).toHaveLength(n);
      for (const r of rects) {
        expect(r.x).toBeGreaterThanOrEqual(0);
        expect(r.y).toBeGreaterThanOrEqual(0);
        expect(r.x + r.w).toBeLessThanOrEqual(960 + 1e-6);
        expect(r.y + r.h).toBeLessThanOrEqual(540 + 1e-6);
      }
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const a = rects[i]!;
          const b = rects[j]!;
          const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
          expect(overlap).toBe(false);
        }
      }
    }
  });

  test('a shared screen takes the big place; the cameras go beside it', () => {
    const rects = layout([{ screen: true }, { screen: false }, { screen: false }], 960, 540);
    expect(rects[0]!.w * rects[0]!.h).toBeGreaterThan(3 * rects[1]!.w * rects[1]!.h);
    expect(rects[1]!.x).toBeGreaterThanOrEqual(rects[0]!.w);
  });

  test('a picture is scaled to fitInside, centred, keeping its shape', () => {
    expect(fitInside(1280, 720, { x: 0, y: 0, w: 480, h: 540 })).toEqual({ x: 0, y: 135, w: 480, h: 270 });
  });
});

describe('the recording file', () => {
  test('is named with the date and time it started, with nothing a file system refuses', () => {
    expect(recordingFileName(new Date(2026, 11, 3, 14, 5, 9))).toBe(
      'Parley recording 2026-12-03 14-05-09.webm',
    );
    // Two recordings started in one minute get different names.
    expect(recordingFileName(new Date(2026, 11, 3, 14, 5, 10))).not.toBe(
      recordingFileName(new Date(2026, 11, 3, 14, 5, 9)),
    );
  });

  test('is WebM with VP8 and Opus where the browser records it, else VP9, else none', () => {
    expect(pickMimeType(() => true)).toBe('video/webm;codecs=vp8,opus');
    expect(pickMimeType((t) => t.includes('vp9'))).toBe('video/webm;codecs=vp9,opus');
    expect(pickMimeType(() => false)).toBeNull();
  });
});
