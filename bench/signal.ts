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
 *  2. Relay rate: 500 pairs send ~500-byte messages both ways at a fixed offered rate for a
 *     few seconds; a step passes when every message arrives and p99 latency is under 50 ms.
 *     The rate climbs by 5 000 msgs/s until a step fails, then bisects three times.
 *
 * The last line of output is one JSON object (see the issue) so runs can be compared.
 * Usage: npm run bench:signal [-- --quick]  (quick: fewer sockets and shorter steps, for a smoke run)
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const QUICK = process.argv.includes('--quick');
const IDLE_STEPS = QUICK ? [500, 1500] : [5000, 15000];
const PAIRS = QUICK ? 50 : 500;
const STEP_MS = QUICK ? 1000 : 2500;
const P99_LIMIT_MS = 50;
const RATE_STEP = 5000;

type Kind = 'ours' | 'peerjs' | 'bare';

/** Ours runs with its normal validation and limits; only these are raised for the benchmark. */
const OURS_ENV = {
  // All load comes from 127.0.0.1, so one "IP" holds 15 000 sockets.
  MAX_CONNECTIONS_PER_IP: '1000000',
  // Each of the 1 000 senders sends up to ~100 msgs/s at the top rates; the bucket still runs.
  RATE_LIMIT_PER_SEC: '1000',
};

const SERVERS: Record<Kind, { label: string; args: string[]; env: Record<string, string> }> = {
  ours: {
    label: 'Parley (ours)',
    args: ['server/main.ts'],
    env: { ...OURS_ENV, HOST: '127.0.0.1', PORT: '0' },
  },
  peerjs: { label: 'PeerJS server', args: ['bench/lib/signal-peerjs.ts'], env: {} },
  bare: { label: 'bare ws relay', args: ['bench/lib/signal-bare-relay.ts'], env: {} },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS after two full GCs (SIGUSR2, see bench/lib/gc-on-signal.ts), so garbage does not count. */
async function settledRss(child: ChildProcess): Promise<number> {
  for (let i = 0; i < 2; i++) {
    child.kill('SIGUSR2');
    await sleep(700);
  }
  return rssBytes(child.pid!);
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/**
 * Starts a server. `ulimit -n` is raised as far as this machine allows (root without
 * CAP_SYS_RESOURCE cannot pass the hard limit; 20 000 here is enough for 15 000 sockets).
 */
async function startServer(kind: Kind): Promise<{ child: ChildProcess; port: number }> {
  const spec = SERVERS[kind];
  const child = spawn(
    'sh',
    [
      '-c',
      'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"',
      process.execPath,
      '--expose-gc',
      '--import',
      'tsx',
      '--import',
      './bench/lib/gc-on-signal.ts',
      ...spec.args,
    ],
    { cwd: ROOT, env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        const m = /"port":(\d+)/.exec(line);
        if (m) resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}: ${out}`)));
  });
  child.stdout?.resume();
  return { child, port };
}

class Generator {
  private seq = 0;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  constructor() {
    this.child = fork(fileURLToPath(new URL('./lib/signal-load.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      cwd: ROOT,
    });
    // Commands sent before the child's listener exists would be lost: wait for its hello.
    this.ready = new Promise<void>((resolve) => {
      this.child.once('message', () => resolve());
    });
    this.child.on('message', (raw) => {
      const msg = raw as { seq: number; result?: unknown; error?: string };
      const w = this.waiting.get(msg.seq);
      this.waiting.delete(msg.seq);
      if (msg.error !== undefined) w?.reject(new Error(msg.error));
      else w?.resolve(msg.result);
    });
  }
  async call<T>(command: Record<string, unknown>): Promise<T> {
    await this.ready;
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, seq });
    });
  }
}

interface Step {
  rate: number;
  sent: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  genLimited: boolean;
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
}

/** user + system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
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
  return { kind, server, gen, kbPerSocket, steps: [], best: null, lo: 0, hi: null, bisects: 0, done: false };
}

/** The next offered rate for a contender: climb by RATE_STEP, then bisect three times. */
function nextRate(c: Contender): number | null {
  if (c.hi === null) return c.lo + RATE_STEP <= 200_000 ? c.lo + RATE_STEP : null;
  if (c.bisects >= 3) return null;
  const mid = Math.round((c.lo + c.hi) / 2 / 100) * 100;
  return mid > c.lo && mid < c.hi ? mid : null;
}

/** One rate for one server; a failed step gets one retry (a stall elsewhere on the machine). */
async function tryRate(c: Contender, rate: number): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const cpu0 = cpuSeconds(c.server.pid!);
    const s = await c.gen.call<Step>({ cmd: 'step', rate, durationMs: STEP_MS });
    const cpuUsPerMsg = ((cpuSeconds(c.server.pid!) - cpu0) * 1e6) / Math.max(1, s.received);
    c.steps.push(s);
    const ok = passes(s);
    process.stdout.write(
      `  ${SERVERS[c.kind].label.padEnd(14)} ${String(rate).padStart(6)} msgs/s: delivered ${s.received}/${s.sent}, ` +
        `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, server CPU ${cpuUsPerMsg.toFixed(1)} µs/msg` +
        `${s.genLimited ? ' (generator limited)' : ''} ${ok ? 'ok' : attempt === 1 ? 'FAIL, retrying' : 'FAIL'}\n`,
    );
    await sleep(300);
    if (ok) {
      c.lo = rate;
      c.best = { ...s, cpuUsPerMsg };
      if (c.hi !== null) c.bisects++;
      return;
    }
  }
  if (c.hi !== null) c.bisects++;
  c.hi = rate;
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
    `MAX_CONNECTIONS_PER_IP=${OURS_ENV.MAX_CONNECTIONS_PER_IP}, RATE_LIMIT_PER_SEC=${OURS_ENV.RATE_LIMIT_PER_SEC} per connection.\n` +
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
// Relay rate: the three servers take turns at each step, so a burst of other work on the
// machine hits all of them alike instead of whichever happened to be running.
process.stdout.write('\nRelay rate (servers take turns)\n');
for (;;) {
  const active = contenders.filter((c) => !c.done);
  if (active.length === 0) break;
  for (const c of active) {
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
  process.stdout.write(
    `${SERVERS[kind].label.padEnd(16)}${r.kbPerSocket[IDLE_STEPS[0]!]!.toFixed(2).padStart(12)}` +
      `${r.kbPerSocket[last]!.toFixed(2).padStart(15)}${String(r.msgsPerSec).padStart(23)}` +
      `${r.cpuUsPerMsg.toFixed(1).padStart(25)}` +
      `${r.genLimited ? '  (generator-limited: the server may do more)' : ''}\n`,
  );
}
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
