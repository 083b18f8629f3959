/**
 * Reconnect delays: exponential from `initialMs` to `maxMs`, with "full jitter" (a random
 * delay between half and all of the step) so many clients that lost the same server do not
 * all come back in the same millisecond.
 */
export interface BackoffOptions {
  /** First delay, default 500 ms. */
  initialMs?: number;
  /** Ceiling, default 10 s. */
  maxMs?: number;
  /** Growth per attempt, default 2. */
  factor?: number;
  /** Source of randomness in [0, 1), for tests. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 500;
    this.maxMs = options.maxMs ?? 10_000;
    this.factor = options.factor ?? 2;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call moves one step up. */
  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  /** After a success: start again from `initialMs`. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
