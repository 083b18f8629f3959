/**
 * `npm run bench:scale`: what running on Redis costs, measured against one node without Redis
 * in the same run. Three setups, each driven by its own load generator process
 * (bench/lib/signal-load.ts, the one bench:signal uses) with our full server (server/main.ts):
 *
 *   one       one node, rooms in memory (the default, the baseline);
 *   one+redis one node with REDIS_URL (relay between peers on the same node: no Redis on the path);
 *   two       two nodes with REDIS_URL, the two peers of every pair on different nodes, so every
 *             message crosses nodes (sender's node → PUBLISH → Redis → receiver's node).
 *
 * One real redis-server, started here, serves both Redis setups (each with its own key prefix).
 *
 *  1. Idle memory with Redis: N joined sockets (two per room) on the one+redis node and on the
 *     baseline node: the node's RSS after full GCs over its RSS before, per socket, and Redis's
 *     `used_memory` over its value before, per socket.
 *  2. Cross-node latency: 500 pairs at a low rate (every setup far from its limit); the setups
 *     take turns, three times; median p50 and p99 of each, and p50(two) − p50(one).
 *  3. Cost at equal load: the same pairs at the same fixed rates (each setup's own generator
 *     offers the same load), steps of several seconds, the setups take turns three times;
 *     median CPU (user + system, /proc) of all node processes per relayed message, and of
 *     Redis per message beside it (the goal's ratio is the nodes'; with Redis is printed too;
 *     no setup's generator is counted). Before it, each setup's idle CPU (pairs connected, no
 *     traffic), which two nodes pay twice; the ratio without it is printed beside.
 *     A rate at which some setup is over its p99 limit is marked: a setup that queues batches
 *     more per wake-up, and its CPU per message then flatters it.
 *  4. Relay rate: as bench:signal, a step passes when every message arrives and p99 < 50 ms;
 *     climb by RATE_STEP until a rate fails (three attempts, on later turns), bisect three times.
 *
 * On a 2-core machine the two-node setup runs two nodes, Redis and the generator on two cores,
 * where the baseline runs one node and the generator: its maximum rate says how much of two
 * cores the whole cluster needs per message, not what two machines would do. The CPU per
 * message (phase 3) is the figure that carries over to a real deployment.
 *
 * Last line: one JSON object (see the issue). Usage: npm run bench:scale [-- --quick] [--baseline DIR]
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { createClient } from '@redis/client';
import { createLogger } from '../server/log.ts';
import { createRedisDirectory } from '../server/redis-presence.ts';
import { type RedisHandle, startRedis } from '../test/helpers/redis-process.ts';
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
const IDLE_SOCKETS = QUICK ? 1000 : 10_000;
const PAIRS = QUICK ? 50 : 500;
const STEP_MS = QUICK ? 1000 : 2500;
const P99_LIMIT_MS = 50;
const RATE_STEP = QUICK ? 10_000 : 5000;
const ATTEMPTS = 3;
const LOW_RATE = QUICK ? 500 : 2000;
/**
 * Phase 3: every setup gets the same offered load (same pairs, same rates, its own generator).
 * Steps last several seconds: /proc counts CPU in 10 ms ticks, which over a 1 s step at
 * 2 000 msgs/s is ±5 µs per message per process, too coarse for a ratio of two.
 */
const EQUAL_RATES = [2000, 5000, 10_000];
const CPU_STEP_MS = QUICK ? 3000 : 5000;
/**
 * Idle CPU of the nodes (pairs connected, no traffic), per setup and turn; the figure is the
 * mean over the turns (/proc's 10 ms ticks over 3 × 3 s: ±1 ms/s per process).
 */
const IDLE_CPU_MS = 3000;
const TURNS = 3;
/** Presence registrations written to Redis for its memory per presence user. */
const PRESENCE_USERS = QUICK ? 2000 : 20_000;
const MAILBOXES_PER_USER = 5;

/**
 * `--baseline DIR`: a fourth setup, two nodes + Redis running the server of another checkout
 * (DIR, with its node_modules), in the latency, idle and equal-rate phases, taking turns with
 * the others: a before/after of a change to the cross-node path within one run.
 */
const baselineAt = process.argv.indexOf('--baseline');
const BASELINE = baselineAt > 0 ? (process.argv[baselineAt + 1] ?? null) : null;
if (baselineAt > 0 && BASELINE === null) throw new Error('--baseline needs a directory');

type Kind = 'one' | 'oneRedis' | 'two' | 'twoBase';
const KINDS: readonly Kind[] =
  BASELINE === null ? ['one', 'oneRedis', 'two'] : ['one', 'oneRedis', 'two', 'twoBase'];
const LABEL: Record<Kind, string> = {
  one: 'one node',
  oneRedis: 'one node + Redis',
  two: 'two nodes + Redis',
  twoBase: 'two nodes, baseline',
};
const perKind = <T>(make: () => T) => Object.fromEntries(KINDS.map((k) => [k, make()])) as Record<Kind, T>;

/** As bench:signal: all load comes from one address; the token bucket still runs. */
const NODE_ENV = {
  ...OURS_LIMITS,
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  // 200 joins at a time on a loaded 2-core machine can take Redis more than the 3 s default.
  REDIS_TIMEOUT_MS: '30000',
};

interface Setup {
  kind: Kind;
  nodes: ChildProcess[];
  gen: Generator;
  kbPerSocket: number;
  redisBytesPerSocket: number;
  /** CPU per join (open, join, joined) and per leave (leave, close), node and Redis, µs. */
  joinUs: { node: number; redis: number };
  leaveUs: { node: number; redis: number };
  best: (Step & { cpuUsPerMsg: number }) | null;
  lo: number;
  hi: number | null;
  bisects: number;
  done: boolean;
  trying: number | null;
  attempts: number;
}

const children = new Set<ChildProcess>();
let redis: RedisHandle | null = null;
function killAll(code: number): never {
  for (const child of children) child.kill('SIGKILL');
  void redis?.stop();
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => killAll(130));
process.on('uncaughtException', (err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  killAll(1);
});
process.on('unhandledRejection', (err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  killAll(1);
});

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const out = (s: string) => process.stdout.write(`${s}\n`);

out(
  `bench:scale — ${PAIRS} pairs, ~500-byte messages both ways, pass = all delivered and p99 < ${P99_LIMIT_MS} ms; ` +
    `each setup has its own load-generator process.\n` +
    `Nodes run with full validation and limits; raised for load from one address: ` +
    `MAX_CONNECTIONS_PER_IP=${NODE_ENV.MAX_CONNECTIONS_PER_IP}, RATE_LIMIT_PER_SEC=${NODE_ENV.RATE_LIMIT_PER_SEC}, RATE_LIMIT_BURST=${NODE_ENV.RATE_LIMIT_BURST}.`,
);
out(`load average before: ${load()} (other work on this machine skews the figures)`);

redis = await startRedis();
const redisPid = redis.pid()!;
const admin = createClient({ url: redis.url });
admin.on('error', () => {});
await admin.connect();
async function redisUsedMemory(): Promise<number> {
  const info = String(await admin.sendCommand(['INFO', 'memory']));
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

async function startNodes(kind: Kind): Promise<{ nodes: ChildProcess[]; ports: number[] }> {
  const env: Record<string, string> =
    kind === 'one' ? NODE_ENV : { ...NODE_ENV, REDIS_URL: redis!.url, REDIS_PREFIX: `bench-${kind}:` };
  const main = kind === 'twoBase' ? `${BASELINE}/server/main.ts` : 'server/main.ts';
  const started = await Promise.all(
    Array.from({ length: kind === 'two' || kind === 'twoBase' ? 2 : 1 }, (_, i) =>
      startNodeServer(`${LABEL[kind]} (node ${i + 1})`, [main], env),
    ),
  );
  for (const s of started) children.add(s.child);
  return { nodes: started.map((s) => s.child), ports: started.map((s) => s.port) };
}

const nodesCpu = (s: Setup) => s.nodes.reduce((sum, n) => sum + cpuSeconds(n.pid!), 0);

async function prepare(kind: Kind): Promise<Setup> {
  const { nodes, ports } = await startNodes(kind);
  const gen = new Generator();
  children.add(gen.child);
  await gen.call({ cmd: 'init', kind: 'ours', ports });
  const setup: Setup = {
    kind,
    nodes,
    gen,
    kbPerSocket: Number.NaN,
    redisBytesPerSocket: Number.NaN,
    joinUs: { node: Number.NaN, redis: Number.NaN },
    leaveUs: { node: Number.NaN, redis: Number.NaN },
    best: null,
    lo: 0,
    hi: null,
    bisects: 0,
    // The baseline is only in the equal-rate comparison, not in the relay-rate climb.
    done: kind === 'twoBase',
    trying: null,
    attempts: 0,
  };
  // Warm-up: the first connections load and compile code; that is not per-socket memory.
  await gen.call({ cmd: 'idle', total: 300 });
  await gen.call({ cmd: 'closeIdle' });
  await sleep(1500);
  if (kind === 'one' || kind === 'oneRedis') {
    const node = nodes[0]!;
    const base = await settledRss(node);
    const redisBase = await redisUsedMemory();
    const costOf = async (work: () => Promise<unknown>) => {
      const n0 = cpuSeconds(node.pid!);
      const r0 = cpuSeconds(redisPid);
      await work();
      await sleep(1500);
      return {
        node: ((cpuSeconds(node.pid!) - n0) * 1e6) / IDLE_SOCKETS,
        redis: ((cpuSeconds(redisPid) - r0) * 1e6) / IDLE_SOCKETS,
      };
    };
    setup.joinUs = await costOf(() => gen.call({ cmd: 'idle', total: IDLE_SOCKETS }));
    setup.kbPerSocket = ((await settledRss(node)) - base) / IDLE_SOCKETS / 1024;
    setup.redisBytesPerSocket = ((await redisUsedMemory()) - redisBase) / IDLE_SOCKETS;
    out(
      `  ${LABEL[kind]}: ${IDLE_SOCKETS} idle joined sockets, node +${setup.kbPerSocket.toFixed(2)} KB each` +
        (kind === 'oneRedis' ? `, Redis +${setup.redisBytesPerSocket.toFixed(0)} bytes each` : ''),
    );
    setup.leaveUs = await costOf(() => gen.call({ cmd: 'closeIdle' }));
    out(
      `  ${LABEL[kind]}: CPU per join (connect, join, joined) node ${setup.joinUs.node.toFixed(0)} µs, ` +
        `Redis ${setup.joinUs.redis.toFixed(0)} µs; per leave (leave, close) node ${setup.leaveUs.node.toFixed(0)} µs, ` +
        `Redis ${setup.leaveUs.redis.toFixed(0)} µs`,
    );
  }
  await gen.call({ cmd: 'pairs', n: PAIRS });
  // JIT warm-up, so that the measured steps see optimized code in every setup: at 2 000
  // msgs/s the cross-node path's per-batch functions (one call per batch, a few hundred a
  // second) were still being compiled, or ran unoptimized, during the first CPU steps (perf).
  await gen.call({ cmd: 'step', rate: 10_000, durationMs: 3000 });
  return setup;
}

interface Measured {
  step: Step;
  nodeUs: number;
  redisUs: number;
  genUs: number;
  otherCores: number;
}

/** One step for one setup, with the CPU of its nodes, of Redis, of its generator and of the rest. */
async function measure(s: Setup, rate: number, durationMs = STEP_MS): Promise<Measured> {
  const n0 = nodesCpu(s);
  const r0 = cpuSeconds(redisPid);
  const g0 = cpuSeconds(s.gen.child.pid!);
  const m0 = machineTicks();
  const t0 = performance.now();
  const step = await s.gen.call<Step>({ cmd: 'step', rate, durationMs });
  const wall = (performance.now() - t0) / 1000;
  const node = nodesCpu(s) - n0;
  const red = cpuSeconds(redisPid) - r0;
  const gen = cpuSeconds(s.gen.child.pid!) - g0;
  const m1 = machineTicks();
  const per = (sec: number) => (sec * 1e6) / Math.max(1, step.received);
  const otherCores = Math.max(0, ((m1.busy - m0.busy) / 100 - node - red - gen) / wall);
  await sleep(300);
  return { step, nodeUs: per(node), redisUs: per(red), genUs: per(gen), otherCores };
}

const passes = (s: Step) => s.received === s.sent && s.p99 < P99_LIMIT_MS;

function nextRate(c: Setup): number | null {
  if (c.trying !== null) return c.trying;
  if (c.hi === null) return c.lo + RATE_STEP <= 200_000 ? c.lo + RATE_STEP : null;
  if (c.bisects >= 3) return null;
  const mid = Math.round((c.lo + c.hi) / 2 / 100) * 100;
  return mid > c.lo && mid < c.hi ? mid : null;
}

async function tryRate(c: Setup, rate: number): Promise<void> {
  if (c.trying !== rate) {
    c.trying = rate;
    c.attempts = 0;
  }
  c.attempts++;
  const m = await measure(c, rate);
  const s = m.step;
  const ok = passes(s);
  const last = !ok && c.attempts >= ATTEMPTS;
  out(
    `  ${LABEL[c.kind].padEnd(18)} ${String(rate).padStart(6)} msgs/s: delivered ${s.received}/${s.sent}, ` +
      `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, nodes ${m.nodeUs.toFixed(1)} µs/msg, ` +
      `Redis ${m.redisUs.toFixed(1)} µs/msg, other ${m.otherCores.toFixed(2)} cores` +
      `${s.genLimited ? ' (generator limited)' : ''} ${ok ? 'ok' : last ? 'FAIL' : `FAIL (attempt ${c.attempts} of ${ATTEMPTS})`}`,
  );
  if (ok) {
    c.lo = rate;
    c.best = { ...s, cpuUsPerMsg: m.nodeUs };
    if (c.hi !== null) c.bisects++;
    c.trying = null;
    return;
  }
  if (!last) return;
  if (c.hi !== null) c.bisects++;
  c.hi = rate;
  c.trying = null;
}

out('\nIdle memory (joined sockets, two per room)');
const setups: Setup[] = [];
for (const kind of KINDS) setups.push(await prepare(kind));
const byKind = (k: Kind) => setups.find((s) => s.kind === k)!;

out(`\nLatency at ${LOW_RATE} msgs/s (setups take turns; median of ${TURNS})`);
const low = perKind<Measured[]>(() => []);
for (let turn = 0; turn < TURNS; turn++) {
  for (let i = 0; i < setups.length; i++) {
    const s = setups[(i + turn) % setups.length]!;
    low[s.kind].push(await measure(s, LOW_RATE));
  }
}
const p50 = (k: Kind) => median(low[k].map((m) => m.step.p50));
const p99 = (k: Kind) => median(low[k].map((m) => m.step.p99));
for (const k of KINDS) {
  out(
    `  ${LABEL[k].padEnd(18)} p50 ${p50(k).toFixed(2)} ms (${low[k].map((m) => m.step.p50.toFixed(2)).join(', ')}), ` +
      `p99 ${p99(k).toFixed(2)} ms, delivered ${low[k].map((m) => `${m.step.received}/${m.step.sent}`).join(', ')}`,
  );
}

/**
 * The nodes' CPU with the pairs connected and no traffic: timers, heartbeats, metrics. Two
 * nodes pay it twice; at a low rate it is a visible part of their CPU per message.
 */
out(`\nIdle CPU, pairs connected, no traffic (${IDLE_CPU_MS / 1000} s; setups take turns; mean of ${TURNS})`);
const idleMsPerSec = perKind<number[]>(() => []);
for (let turn = 0; turn < TURNS; turn++) {
  for (let i = 0; i < setups.length; i++) {
    const s = setups[(i + turn) % setups.length]!;
    const n0 = nodesCpu(s);
    await sleep(IDLE_CPU_MS);
    idleMsPerSec[s.kind].push(((nodesCpu(s) - n0) * 1e6) / IDLE_CPU_MS);
  }
}
const idleCpu = (k: Kind) => idleMsPerSec[k].reduce((a, b) => a + b, 0) / idleMsPerSec[k].length;
for (const k of KINDS) {
  out(
    `  ${LABEL[k].padEnd(18)} nodes ${idleCpu(k).toFixed(1)} ms/s (${idleMsPerSec[k].map((v) => v.toFixed(1)).join(', ')})`,
  );
}

out(`\nCPU per message at equal rates (setups take turns; median of ${TURNS})`);
const equal = perKind<Record<number, Measured[]>>(() => ({}));
for (const rate of EQUAL_RATES) {
  for (let turn = 0; turn < TURNS; turn++) {
    for (let i = 0; i < setups.length; i++) {
      const s = setups[(i + turn) % setups.length]!;
      const list = equal[s.kind][rate] ?? [];
      equal[s.kind][rate] = list;
      list.push(await measure(s, rate, CPU_STEP_MS));
    }
  }
  for (const k of KINDS) {
    const ms = equal[k][rate]!;
    out(
      `  ${LABEL[k].padEnd(18)} ${String(rate).padStart(6)} msgs/s: nodes ${median(ms.map((m) => m.nodeUs)).toFixed(1)} µs/msg ` +
        `(${ms.map((m) => m.nodeUs.toFixed(1)).join(', ')}), Redis ${median(ms.map((m) => m.redisUs)).toFixed(1)} µs/msg, ` +
        `generator ${median(ms.map((m) => m.genUs)).toFixed(1)} µs/msg, p99 ${median(ms.map((m) => m.step.p99)).toFixed(2)} ms, ` +
        `other ${median(ms.map((m) => m.otherCores)).toFixed(2)} cores`,
    );
  }
}
const nodeUs = (k: Kind, rate: number) => median(equal[k][rate]!.map((m) => m.nodeUs));
const redisUs = (k: Kind, rate: number) => median(equal[k][rate]!.map((m) => m.redisUs));
/**
 * A setup past its limit at a rate (p99 over the limit, or messages lost) queues, and a queue
 * batches more per wake-up: its CPU per message then falls, so the ratio at that rate flatters
 * it. Such rates are printed but marked.
 */
const comparable = (rate: number) =>
  KINDS.every(
    (k) =>
      equal[k][rate]!.every((m) => m.step.received === m.step.sent) &&
      median(equal[k][rate]!.map((m) => m.step.p99)) < P99_LIMIT_MS,
  );
/** The ratio with each setup's idle CPU (timers, heartbeats: per process) taken out. */
const busyRatio = (rate: number) =>
  `${((nodeUs('two', rate) - (idleCpu('two') * 1000) / rate) / (nodeUs('one', rate) - (idleCpu('one') * 1000) / rate)).toFixed(2)}×`;
const cpuRatio = (rate: number, withRedis: boolean) =>
  `${((nodeUs('two', rate) + (withRedis ? redisUs('two', rate) : 0)) / nodeUs('one', rate)).toFixed(2)}×`;

out('\nRelay rate (setups take turns)');
for (let round = 0; ; round++) {
  const active = setups.filter((c) => !c.done);
  if (active.length === 0) break;
  for (let i = 0; i < active.length; i++) {
    const c = active[(i + round) % active.length]!;
    const rate = nextRate(c);
    if (rate === null) c.done = true;
    else await tryRate(c, rate);
  }
}

for (const s of setups) {
  await Promise.race([s.gen.call({ cmd: 'exit' }).catch(() => {}), sleep(5000)]);
  s.gen.child.kill();
  for (const n of s.nodes) n.kill('SIGKILL');
}
/**
 * Redis memory per presence user: PRESENCE_USERS sessions, each registering
 * MAILBOXES_PER_USER mailboxes, through the real Redis directory (redis-presence.ts).
 */
async function presenceRedisBytes(): Promise<number> {
  const before = await redisUsedMemory();
  const keysBefore = Number(await admin.sendCommand(['DBSIZE']));
  const directory = createRedisDirectory<object>(
    {
      redisUrl: redis!.url,
      redisPrefix: 'bench-presence:',
      redisTimeoutMs: 30_000,
      ringBurst: 10,
      ringPerMin: 6,
    },
    createLogger('silent'),
  );
  // Connected once a lookup goes through (commands fail at once while connecting).
  for (;;) {
    try {
      await directory.lookup('warm-up');
      break;
    } catch {
      await sleep(100);
    }
  }
  for (let u = 0; u < PRESENCE_USERS; u++) {
    const session = {};
    for (let i = 0; i < MAILBOXES_PER_USER; i++)
      directory.set(randomBytes(16).toString('base64url'), session);
    if (u % 500 === 0) await sleep(5);
  }
  // The directory sends its writes in order on one connection, and a lookup goes out on the
  // same one after them: once it is answered, Redis has applied every write before it.
  await directory.lookup('barrier');
  // Then check that they all landed (a registration is one key, plus the node's set and
  // heartbeat): a figure read before the writes would be meaningless, so never print one.
  const want = PRESENCE_USERS * MAILBOXES_PER_USER + 2;
  const added = Number(await admin.sendCommand(['DBSIZE'])) - keysBefore;
  const registered = Number(
    await admin.sendCommand(['SCARD', `bench-presence:pmb:${directory.address({}).node}`]),
  );
  if (registered !== PRESENCE_USERS * MAILBOXES_PER_USER) {
    throw new Error(
      `presence phase: ${registered} of ${PRESENCE_USERS * MAILBOXES_PER_USER} registrations in Redis (${added} keys added, ${want} expected)`,
    );
  }
  const bytes = ((await redisUsedMemory()) - before) / PRESENCE_USERS;
  await directory.close();
  return bytes;
}
const presenceBytes = await presenceRedisBytes();
out(
  `\nRedis memory per presence user (${MAILBOXES_PER_USER} mailboxes, ${PRESENCE_USERS} users through redis-presence.ts): ` +
    `${presenceBytes.toFixed(0)} bytes`,
);
await admin.close();
await redis.stop();

const one = byKind('one');
const oneRedis = byKind('oneRedis');
const two = byKind('two');
const rate = (s: Setup) => s.best?.rate ?? 0;
const top = EQUAL_RATES[EQUAL_RATES.length - 1]!;
out(`\nsetup               max msgs/s (p99<50ms)  nodes µs/msg @${top}  Redis µs/msg  p50 @${LOW_RATE}`);
for (const s of setups) {
  out(
    `${LABEL[s.kind].padEnd(20)}${String(rate(s)).padStart(21)}${nodeUs(s.kind, top).toFixed(1).padStart(18)}` +
      `${redisUs(s.kind, top).toFixed(1).padStart(14)}${p50(s.kind).toFixed(2).padStart(12)} ms`,
  );
}
const crossP50 = p50('two') - p50('one');
out(`load average after: ${load()}`);
out(
  `\nratios against one node without Redis, this run:\n` +
    `  one node + Redis throughput ${(rate(oneRedis) / rate(one)).toFixed(2)}× (goal ≥ 0.7)\n` +
    `  two nodes' CPU per message ${EQUAL_RATES.map((r) => `${cpuRatio(r, false)} @${r}${comparable(r) ? '' : ' (a setup over its p99 limit: not comparable)'}`).join(', ')} ` +
    `(goal ≤ 1.5; with Redis's own CPU ${EQUAL_RATES.map((r) => cpuRatio(r, true)).join(', ')}; ` +
    `without each setup's idle CPU ${EQUAL_RATES.map((r) => busyRatio(r)).join(', ')})\n` +
    `  two nodes throughput ${(rate(two) / rate(one)).toFixed(2)}× (two nodes, Redis and the generator share 2 cores)\n` +
    `  cross-node relay adds ${crossP50.toFixed(2)} ms at p50 (goal ≤ 2)\n` +
    (BASELINE === null
      ? ''
      : `  against the baseline (${BASELINE}): two nodes' CPU per message ` +
        `${EQUAL_RATES.map((r) => `${(nodeUs('two', r) / nodeUs('twoBase', r)).toFixed(2)}× @${r}`).join(', ')}, ` +
        `Redis's ${EQUAL_RATES.map((r) => `${(redisUs('two', r) / redisUs('twoBase', r)).toFixed(2)}×`).join(', ')}; ` +
        `baseline's CPU per message against one node ${EQUAL_RATES.map((r) => `${(nodeUs('twoBase', r) / nodeUs('one', r)).toFixed(2)}×`).join(', ')}; ` +
        `its cross-node relay adds ${(p50('twoBase') - p50('one')).toFixed(2)} ms at p50\n`) +
    `  memory per idle socket with Redis: node ${oneRedis.kbPerSocket.toFixed(2)} KB (${(oneRedis.kbPerSocket / one.kbPerSocket).toFixed(2)}× ` +
    `without Redis, ${one.kbPerSocket.toFixed(2)} KB) + Redis ${oneRedis.redisBytesPerSocket.toFixed(0)} bytes`,
);
const round2 = (n: number) => Math.round(n * 100) / 100;
out(
  JSON.stringify({
    bench: 'scale',
    one_node_msgs_per_s: rate(one),
    one_node_redis_msgs_per_s: rate(oneRedis),
    two_nodes_msgs_per_s: rate(two),
    cross_node_p50_ms: round2(crossP50),
    kb_per_socket_redis: round2(oneRedis.kbPerSocket),
  }),
);
process.exit(0);
