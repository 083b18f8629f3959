/**
 * Per-connection token bucket, kept as plain numbers on the connection so an idle socket
 * costs a few bytes and a message costs one subtraction.
 */
export interface BucketState {
  tokens: number;
  /** Milliseconds (any monotonic clock) of the last refill. */
  refilledAt: number;
}

export interface BucketLimits {
  burst: number;
  perSec: number;
}

export function newBucket(limits: BucketLimits, now: number): BucketState {
  return { tokens: limits.burst, refilledAt: now };
}

/** Takes one token if there is one; returns false when the message must be dropped. */
export function take(state: BucketState, limits: BucketLimits, now: number): boolean {
  const elapsed = now - state.refilledAt;
  if (elapsed > 0) {
    state.tokens = Math.min(limits.burst, state.tokens + (elapsed * limits.perSec) / 1000);
    state.refilledAt = now;
  }
  // A small epsilon so that ten refills of 0.1 make a whole token despite float rounding.
  if (state.tokens >= 0.999_999) {
    state.tokens -= 1;
    return true;
  }
  return false;
}
