import { describe, expect, it } from 'vitest';
import { formatDuration, initial, possessive } from './format.ts';

describe('call UI text', () => {
  it('formats the call timer', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(7_900)).toBe('0:07');
    expect(formatDuration(750_000)).toBe('12:30');
    expect(formatDuration(3_723_000)).toBe('1:02:03');
  });

  it('writes possessives and initials for names', () => {
    expect(possessive('Ana')).toBe("Ana's");
    expect(possessive('James')).toBe("James'");
    expect(initial(' élodie')).toBe('É');
    expect(initial('')).toBe('?');
  });
});
