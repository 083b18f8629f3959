/**
 * The benchmarks' load generator (bench/lib/signal-load.ts) against our real server with the
 * limits bench:signal and bench:scale run it with: after a step the server could not keep up
 * with, the next steps still measure something. (With the default token bucket, an overloaded
 * step got every sender rate-limited and closed for flooding, and the later steps of
 * bench:scale delivered nothing: "the backlog does not drain".)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator, OURS_LIMITS, type Step } from '../../bench/lib/bench-process.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';

let server: ServerHandle;
let gen: Generator;

beforeAll(async () => {
  server = await startServer({ ...OURS_LIMITS });
  gen = new Generator();
  await gen.call({ cmd: 'init', kind: 'ours', port: server.port });
  await gen.call({ cmd: 'pairs', n: 50 });
}, 60_000);

afterAll(async () => {
  gen?.child.kill();
  await server?.stop();
});

describe('bench load generator', () => {
  it('an overloaded step leaves the senders connected and the next step delivers every message', async () => {
    // ~1 000 msgs/s per socket for a second: more than this server relays on a small machine.
    await gen.call<Step>({ cmd: 'step', rate: 100_000, durationMs: 1000, waitMs: 20_000 });
    const after = await gen.call<Step>({ cmd: 'step', rate: 2000, durationMs: 1000, waitMs: 20_000 });
    expect(after.sent).toBeGreaterThan(0);
    expect(after.received).toBe(after.sent);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).not.toMatch(/reason="rate-limit-disconnect"} [1-9]/);
  }, 120_000);
});
