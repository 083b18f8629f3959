import { describe, expect, it } from 'vitest';
import { formatSeconds, formatSize } from './format-size.ts';

describe('formatSize', () => {
  it('uses decimal units like file managers', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(999)).toBe('999 B');
    expect(formatSize(4_200_000)).toBe('4.2 MB');
    expect(formatSize(50 * 1024 * 1024)).toBe('52.4 MB');
    expect(formatSize(999_999)).toBe('1.0 MB');
    expect(formatSize(3 * 1024 ** 3)).toBe('3.2 GB');
  });
});

describe('formatSeconds', () => {
  it('reads naturally', () => {
    expect(formatSeconds(0.2)).toBe('1 s');
    expect(formatSeconds(42)).toBe('42 s');
    expect(formatSeconds(150)).toBe('3 min');
    expect(formatSeconds(3900)).toBe('1 h 5 min');
    expect(formatSeconds(Number.POSITIVE_INFINITY)).toBe('');
  });
});
