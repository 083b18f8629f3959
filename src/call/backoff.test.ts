import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.ts';

describe('reconnect backoff', () => {
  it('grows exponentially from 0.5 s and stays under the 10 s ceiling', () => {
    const top = new Backoff({ random: () => 0.999999 });
    const delays = Array.from({ length: 8 }, () => top.next());
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  });

  it('jitters each delay between half and all of its step', () => {
    const low = new Backoff({ random: () => 0 });
    expect([low.next(), low.next(), low.next()]).toEqual([250, 500, 1000]);
    const b = new Backoff();
    for (let i = 0; i < 50; i++) {
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(125);
      expect(d).toBeLessThanOrEqual(10000);
    }
  });

  it('starts over after a success', () => {
    const b = new Backoff({ random: () => 0.999999 });
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(500);
  });
});
