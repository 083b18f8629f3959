import { describe, expect, it } from 'vitest';
import { newBucket, take } from './token-bucket.ts';

describe('token bucket', () => {
  const limits = { burst: 5, perSec: 2 };

  it('lets a burst through, then refuses until tokens refill', () => {
    const b = newBucket(limits, 0);
    for (let i = 0; i < 5; i++) expect(take(b, limits, 0)).toBe(true);
    expect(take(b, limits, 0)).toBe(false);
    expect(take(b, limits, 499)).toBe(false);
    expect(take(b, limits, 500)).toBe(true);
    expect(take(b, limits, 500)).toBe(false);
  });

  it('never stores more than the burst', () => {
    const b = newBucket(limits, 0);
    take(b, limits, 0);
    let allowed = 0;
    for (let i = 0; i < 20; i++) if (take(b, limits, 3_600_000)) allowed++;
    expect(allowed).toBe(5);
  });

  it('sustains exactly the refill rate over time', () => {
    const b = newBucket({ burst: 1, perSec: 10 }, 0);
    let allowed = 0;
    for (let t = 0; t <= 10_000; t += 10) if (take(b, { burst: 1, perSec: 10 }, t)) allowed++;
    expect(allowed).toBe(101);
  });

  it('ignores a clock that goes backwards', () => {
    const b = newBucket(limits, 1000);
    for (let i = 0; i < 5; i++) take(b, limits, 1000);
    expect(take(b, limits, 0)).toBe(false);
    expect(b.tokens).toBeGreaterThanOrEqual(0);
  });
});
