/**
 * `npm run bench:signal`: our signaling server against the PeerJS server and a bare `ws`
 * relay, each driven by the same load generator (bench/lib/signal-load.ts) in its own child
 * process, the server in another: on 2 cores, one core each.
 *
 * For each server:
 *  1. Idle memory: open 5 000, then 15 000 registered sockets (ours: joined, two per room;
 *     PeerJS: connected with an id; bare: connected with an id) and report the server's
 *     extra RSS per socket over its RSS after a warm-up. Every server is started with the
 *     same preload (bench/lib/gc-on-signal.ts) so RSS is read after full GCs, not at the mercy
 *     of when each one last collected garbage.
 *  2. Cost at equal load: 500 pairs send ~500-byte messages both ways at 10 000 and then
 *     20 000 msgs/s; the three servers take turns, three times each, and the median server
 *     CPU (user + system, from /proc) per relayed message is reported. This is the steady
 *     figure: the same work offered to each server, whatever else the machine is doing.
 *  3. Relay rate: the same pairs at a fixed offered rate for 2.5 s; a step passes when every
 *     message arrives and p99 latency is under 50 ms. The rate climbs by 5 000 msgs/s until a
 *     rate fails, then bisects three times. A failed rate is tried again on the server's next
 *     turn, up to three attempts (one pass is enough): below a server's capacity a failure
 *     means a stall somewhere on the machine, above it the backlog grows for the whole step
 *     and no attempt passes. The servers take turns step by step, in an order that rotates
 *     each round, and each step prints how many cores everything else on the machine used.
 *
 * The last line of output is one JSON object (see the issue) so runs can be compared.
 * Usage: npm run bench:signal [-- --quick]  (quick: fewer sockets and shorter steps, for a smoke run)
 */
import type { ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import {
  cpuSeconds,
  Generator,
  machineTicks,
  median,
  OURS_LIMITS,
  type Step,
  settledRss,
  sleep,
  startNodeServer,
} from './lib/bench-process.ts';

const QUICK = process.argv.includes('--quick');
const IDLE_STEPS = QUICK ? [500, 1500] : [5000, 15000];
const PAIRS = QUICK ? 50 : 500;
const STEP_MS = QUICK ? 1000 : 2500;
const P99_LIMIT_MS = 50;
const RATE_STEP = QUICK ? 20_000 : 5000;
/** Attempts per rate before it counts as failed (one pass is enough). */
const ATTEMPTS = 3;
/** Offered rates at which every server's CPU per message is compared. */
const EQUAL_RATES = QUICK ? [2000] : [10_000, 20_000];

type Kind = 'ours' | 'peerjs' | 'bare';

/** Ours runs with its normal validation and limits; only these are raised for the benchmark. */
const OURS_ENV = OURS_LIMITS;

const SERVERS: Record<Kind, { label: string; args: string[]; env: Record<string, string> }> = {
  ours: {
    label: 'Parley (ours)',
    args: ['server/main.ts'],
    env: { ...OURS_ENV, HOST: '127.0.0.1', PORT: '0' },
  },
  peerjs: { label: 'PeerJS server', args: ['bench/lib/signal-peerjs.ts'], env: {} },
  bare: { label: 'bare ws relay', args: ['bench/lib/signal-bare-relay.ts'], env: {} },
};

function startServer(kind: Kind): Promise<{ child: ChildProcess; port: number }> {
  return startNodeServer(`${kind} server`, SERVERS[kind].args, SERVERS[kind].env);
}

interface Result {
  kind: Kind;
  kbPerSocket: Record<number, number>;
  msgsPerSec: number;
  p99AtMax: number;
  /** Server CPU (user + system, from /proc) per relayed message at the best passing rate. */
  cpuUsPerMsg: number;
  steps: Step[];
  genLimited: boolean;
  /** Median server CPU per message at each of EQUAL_RATES. */
  cpuAtEqual?: Record<number, number>;
}

const passes = (s: Step) => s.received === s.sent && s.p99 < P99_LIMIT_MS;

interface Contender {
  kind: Kind;
  server: ChildProcess;
  gen: Generator;
  kbPerSocket: Record<number, number>;
  steps: Step[];
  best: (Step & { cpuUsPerMsg: number }) | null;
  lo: number;
  hi: number | null;
  bisects: number;
  done: boolean;
  /** The rate being tried and how many attempts it has had (a rate gets up to ATTEMPTS). */
  trying: number | null;
  attempts: number;
}

/** Phase 1 for one server: idle memory; then leaves 500 pairs connected for phase 2. */
async function prepare(kind: Kind): Promise<Contender> {
  const { child: server, port } = await startServer(kind);
  const gen = new Generator();
  children.add(server);
  children.add(gen.child);
  await gen.call({ cmd: 'init', kind, port });
  // Warm-up: the first connections load and compile code; that is not per-socket memory.
  await gen.call({ cmd: 'idle', total: 300 });
  await gen.call({ cmd: 'closeIdle' });
  await sleep(1000);
  const base = await settledRss(server);
  const kbPerSocket: Record<number, number> = {};
  for (const total of IDLE_STEPS) {
    await gen.call({ cmd: 'idle', total });
    await sleep(1000);
    kbPerSocket[total] = ((await settledRss(server)) - base) / total / 1024;
    process.stdout.write(
      `  ${SERVERS[kind].label}: ${total} idle sockets, +${kbPerSocket[total]!.toFixed(2)} KB each\n`,
    );
  }
  await gen.call({ cmd: 'closeIdle' });
  await sleep(1000);
  await gen.call({ cmd: 'pairs', n: PAIRS });
  await gen.call({ cmd: 'step', rate: 2000, durationMs: 1000 });
  return {
    kind,
    server,
    gen,
    kbPerSocket,
    steps: [],
    best: null,
    lo: 0,
    hi: null,
    bisects: 0,
    done: false,
    trying: null,
    attempts: 0,
  };
}

/** The next offered rate for a contender: climb by RATE_STEP, then bisect three times. */
function nextRate(c: Contender): number | null {
  if (c.trying !== null) return c.trying;
  if (c.hi === null) return c.lo + RATE_STEP <= 200_000 ? c.lo + RATE_STEP : null;
  if (c.bisects >= 3) return null;
  const mid = Math.round((c.lo + c.hi) / 2 / 100) * 100;
  return mid > c.lo && mid < c.hi ? mid : null;
}

/**
 * One step at one rate for one server. A failed rate is tried again on the contender's next
 * turn (after the other servers had theirs, so a burst of other work on the machine does not
 * hit every attempt), up to ATTEMPTS times; one passing attempt is enough. Above a server's
 * capacity the backlog grows for the whole step, so a lucky pass there is not a risk; a
 * failure below it is (a stall anywhere on the machine), hence the attempts.
 */
async function tryRate(c: Contender, rate: number): Promise<void> {
  if (c.trying !== rate) {
    c.trying = rate;
    c.attempts = 0;
  }
  c.attempts++;
  const cpu0 = cpuSeconds(c.server.pid!);
  const gen0 = cpuSeconds(c.gen.child.pid!);
  const m0 = machineTicks();
  const t0 = performance.now();
  const s = await c.gen.call<Step>({ cmd: 'step', rate, durationMs: STEP_MS });
  const wall = (performance.now() - t0) / 1000;
  const serverCpu = cpuSeconds(c.server.pid!) - cpu0;
  const genCpu = cpuSeconds(c.gen.child.pid!) - gen0;
  const m1 = machineTicks();
  // CPU used by everything else on the machine during the step, in cores (softirq included).
  const otherCores = Math.max(0, ((m1.busy - m0.busy) / 100 - serverCpu - genCpu) / wall);
  const cpuUsPerMsg = (serverCpu * 1e6) / Math.max(1, s.received);
  c.steps.push(s);
  const ok = passes(s);
  const last = !ok && c.attempts >= ATTEMPTS;
  process.stdout.write(
    `  ${SERVERS[c.kind].label.padEnd(14)} ${String(rate).padStart(6)} msgs/s: delivered ${s.received}/${s.sent}, ` +
      `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, server CPU ${cpuUsPerMsg.toFixed(1)} µs/msg, ` +
      `other ${otherCores.toFixed(2)} cores` +
      `${s.genLimited ? ' (generator limited)' : ''} ${ok ? 'ok' : last ? 'FAIL' : `FAIL (attempt ${c.attempts} of ${ATTEMPTS})`}\n`,
  );
  await sleep(300);
  if (ok) {
    c.lo = rate;
    c.best = { ...s, cpuUsPerMsg };
    if (c.hi !== null) c.bisects++;
    c.trying = null;
    return;
  }
  if (!last) return;
  if (c.hi !== null) c.bisects++;
  c.hi = rate;
  c.trying = null;
}

async function finish(c: Contender): Promise<Result> {
  await Promise.race([c.gen.call({ cmd: 'exit' }).catch(() => {}), sleep(5000)]);
  c.gen.child.kill();
  c.server.kill('SIGKILL');
  children.delete(c.server);
  children.delete(c.gen.child);
  return {
    kind: c.kind,
    kbPerSocket: c.kbPerSocket,
    msgsPerSec: c.best?.rate ?? 0,
    p99AtMax: c.best?.p99 ?? Number.NaN,
    cpuUsPerMsg: c.best?.cpuUsPerMsg ?? Number.NaN,
    steps: c.steps,
    genLimited: c.steps.some((s) => s.genLimited && passes(s)),
  };
}

// Never leave servers or generators behind if the run is interrupted.
const children = new Set<ChildProcess>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}

const results: Partial<Record<Kind, Result>> = {};
process.stdout.write(
  `bench:signal — ${PAIRS} pairs, ~500-byte messages both ways, pass = all delivered and p99 < ${P99_LIMIT_MS} ms\n` +
    `Parley runs with its full validation and limits; raised for this load from one address: ` +
    `MAX_CONNECTIONS_PER_IP=${OURS_ENV.MAX_CONNECTIONS_PER_IP}, RATE_LIMIT_PER_SEC=${OURS_ENV.RATE_LIMIT_PER_SEC} and RATE_LIMIT_BURST=${OURS_ENV.RATE_LIMIT_BURST} per connection.\n` +
    `PeerJS runs with concurrent_limit and alive_timeout raised (its defaults would refuse 15 000 sockets).\n`,
);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
process.stdout.write(`load average before: ${load()} (other work on this machine skews the figures)\n`);
const contenders: Contender[] = [];
process.stdout.write('\nIdle memory (one server at a time)\n');
for (const kind of ['ours', 'peerjs', 'bare'] as const) contenders.push(await prepare(kind));
// Cost at equal load: every server relays the same offered rates, taking turns, three times
// each. Server CPU per message at the same rate is a steadier comparison than the maximum
// rate, which a single stall on the machine can cut.
process.stdout.write('\nServer CPU at equal rates (servers take turns; median of 3)\n');
const equal: Record<Kind, Record<number, { cpu: number[]; p99: number[] }>> = {
  ours: {},
  peerjs: {},
  bare: {},
};
for (const rate of EQUAL_RATES) {
  for (let rep = 0; rep < 3; rep++) {
    for (let i = 0; i < contenders.length; i++) {
      const c = contenders[(i + rep) % contenders.length]!;
      const cpu0 = cpuSeconds(c.server.pid!);
      const s = await c.gen.call<Step>({ cmd: 'step', rate, durationMs: STEP_MS });
      const cpu = ((cpuSeconds(c.server.pid!) - cpu0) * 1e6) / Math.max(1, s.received);
      equal[c.kind][rate] ??= { cpu: [], p99: [] };
      const slot = equal[c.kind][rate]!;
      slot.cpu.push(cpu);
      slot.p99.push(s.p99);
      await sleep(300);
    }
  }
  for (const c of contenders) {
    const slot = equal[c.kind][rate]!;
    process.stdout.write(
      `  ${SERVERS[c.kind].label.padEnd(14)} ${String(rate).padStart(6)} msgs/s: server CPU ${median(slot.cpu).toFixed(1)} µs/msg ` +
        `(${slot.cpu.map((x) => x.toFixed(1)).join(', ')}), p99 ${median(slot.p99).toFixed(2)} ms\n`,
    );
  }
}

// Relay rate: the three servers take turns at each step, so a burst of other work on the
// machine hits all of them alike instead of whichever happened to be running.
process.stdout.write('\nRelay rate (servers take turns)\n');
for (let round = 0; ; round++) {
  const active = contenders.filter((c) => !c.done);
  if (active.length === 0) break;
  // The order rotates each round, so no server always runs right after the same other one.
  for (let i = 0; i < active.length; i++) {
    const c = active[(i + round) % active.length]!;
    const rate = nextRate(c);
    if (rate === null) c.done = true;
    else await tryRate(c, rate);
  }
}
for (const c of contenders) results[c.kind] = await finish(c);

const last = IDLE_STEPS[IDLE_STEPS.length - 1]!;
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
process.stdout.write(
  '\nserver          KB/socket@5k  KB/socket@15k  max msgs/s (p99<50ms)  server CPU µs/msg there\n',
);
for (const kind of ['ours', 'peerjs', 'bare'] as const) {
  const r = results[kind]!;
  r.cpuAtEqual = Object.fromEntries(EQUAL_RATES.map((rate) => [rate, median(equal[kind][rate]!.cpu)]));
  process.stdout.write(
    `${SERVERS[kind].label.padEnd(16)}${r.kbPerSocket[IDLE_STEPS[0]!]!.toFixed(2).padStart(12)}` +
      `${r.kbPerSocket[last]!.toFixed(2).padStart(15)}${String(r.msgsPerSec).padStart(23)}` +
      `${r.cpuUsPerMsg.toFixed(1).padStart(25)}` +
      `${r.genLimited ? '  (generator-limited: the server may do more)' : ''}\n`,
  );
}
process.stdout.write(
  `\nserver CPU per message at equal rates: ${EQUAL_RATES.map(
    (rate) =>
      `${rate} msgs/s: ` +
      (['ours', 'peerjs', 'bare'] as const)
        .map((k) => `${k} ${results[k]!.cpuAtEqual![rate]!.toFixed(1)} µs`)
        .join(', ') +
      ` (PeerJS/ours ${(results.peerjs!.cpuAtEqual![rate]! / results.ours!.cpuAtEqual![rate]!).toFixed(2)}×, ` +
      `bare/ours ${(results.bare!.cpuAtEqual![rate]! / results.ours!.cpuAtEqual![rate]!).toFixed(2)}×)`,
  ).join('; ')}\n`,
);
process.stdout.write(`load average after: ${load()}\n`);
const ours = results.ours!;
const peerjs = results.peerjs!;
const bare = results.bare!;
process.stdout.write(
  `\nratios: ours/PeerJS throughput ${(ours.msgsPerSec / peerjs.msgsPerSec).toFixed(2)}× (goal ≥ 1.3), ` +
    `ours/bare ${(ours.msgsPerSec / bare.msgsPerSec).toFixed(2)}× (goal ≥ 0.9), ` +
    `ours ${ours.kbPerSocket[last]!.toFixed(2)} KB per idle socket (goal ≤ 5)\n`,
);
process.stdout.write(
  `${JSON.stringify({
    bench: 'signal',
    ours_msgs_per_s: ours.msgsPerSec,
    peerjs_msgs_per_s: peerjs.msgsPerSec,
    bare_msgs_per_s: bare.msgsPerSec,
    ours_kb_per_socket: round(ours.kbPerSocket[last]!),
    peerjs_kb_per_socket: round(peerjs.kbPerSocket[last]!),
    bare_kb_per_socket: round(bare.kbPerSocket[last]!),
  })}\n`,
);
process.exit(0);
