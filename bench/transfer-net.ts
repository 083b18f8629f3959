/**
 * `npm run bench:transfer-net`: file transfers over long round trips, in the network lab of
 * test/net/lab.ts (namespaces made for this run and removed at its end, also on failure; needs
 * root, as the lab tests do). Two computers on one home LAN: Ana's behind a link with delay
 * and loss (the lab's TUN link, test/net/tun-link.py: the kernel here has no netem, so a
 * userspace link delays and drops packets, both ways), Bo's on the LAN; the Parley server
 * (https/wss) and coturn on the lab's public side. Each computer runs Chromium with the guest
 * page; the two join one call (audio only), whose connection goes host to host over the link
 * (the selected pair is printed). Files go from Ana to Bo.
 *
 * For each condition (a 40 ms round trip; 100 ms; 40 ms with 1% loss each way), after one
 * small unmeasured warm-up pair: PAIRS interleaved pairs on the same connection (raw first
 * in even pairs, Parley first in odd ones): the raw single data channel (a bare send loop of
 * 64 KiB messages on a negotiated channel added to the call's connection:
 * bench/lib/transfer-raw.ts) and Parley (a dropped file of the same size, from the drop to
 * "Received and verified" on Bo's card, with where the time went); the ratio per pair, then
 * the median.
 *
 * Resume overhead: a RESUME_MIB file at 40 ms cut twice, the link down for CUT_S s (every
 * packet dropped both ways) once a third has been written, and the call's data channels
 * closed on Bo's side (what a dead SCTP association does; a new connection is made) once two
 * thirds have. Extra bytes = body bytes Ana's page handed to open `files` channels beyond the
 * file size (RTCDataChannel.send counted), as a share of the file; the bytes Bo received twice
 * are printed beside it.
 *
 * Env: TRANSFER_MIB (default 32) for the loss-free conditions, LOSS_TRANSFER_MIB (4) with
 * loss, PAIRS (3), RESUME_MIB (256), CUT_S (5), RUN_TIMEOUT_S (300, per run), RAW_CHUNK_KIB
 * (64: the raw loop's message size; Parley's frames are up to 256 KiB),
 * PHASES (default "40ms,100ms,40ms_loss1,resume"). The last line is one JSON object.
 */
import { loadavg } from 'node:os';
import type { Page } from 'playwright-core';
import { join, newLink } from '../test/net/call-page.ts';
import { type Host, type LabBrowser, NetLab, type TunLink } from '../test/net/lab.ts';
import { sleep } from './lib/bench-process.ts';
import { RECORD_CHANNELS, rawThroughput } from './lib/transfer-raw.ts';
import {
  dropFiles,
  filesReady,
  MiB,
  makeLargeFile,
  median,
  NAME_HELPER,
  round,
  waitDone,
} from './lib/transfer-steps.ts';

const TRANSFER_MIB = Number(process.env.TRANSFER_MIB ?? 32);
const LOSS_TRANSFER_MIB = Number(process.env.LOSS_TRANSFER_MIB ?? 4);
const PAIRS = Number(process.env.PAIRS ?? 3);
const RESUME_MIB = Number(process.env.RESUME_MIB ?? 256);
const CUT_MS = Number(process.env.CUT_S ?? 5) * 1000;
const RUN_TIMEOUT_MS = Number(process.env.RUN_TIMEOUT_S ?? 300) * 1000;
const PHASES = (process.env.PHASES ?? '40ms,100ms,40ms_loss1,resume').split(',').map((p) => p.trim());
/** The raw loop's message size (Parley's frames are up to 256 KiB). */
const RAW_CHUNK_BYTES = Number(process.env.RAW_CHUNK_KIB ?? 64) * 1024;
/** Raw channels get ids from here up (the call's own are 0 and 1), each checked unused. */
const RAW_ID_FROM = 100;

interface Condition {
  key: '40ms' | '100ms' | '40ms_loss1';
  label: string;
  /** One way: the link delays each direction by this. */
  delayMs: number;
  /** Each way. */
  loss: number;
  mib: number;
}

const CONDITIONS: Condition[] = [
  { key: '40ms', label: '40 ms round trip', delayMs: 20, loss: 0, mib: TRANSFER_MIB },
  { key: '100ms', label: '100 ms round trip', delayMs: 50, loss: 0, mib: TRANSFER_MIB },
  {
    key: '40ms_loss1',
    label: '40 ms round trip, 1% loss each way',
    delayMs: 20,
    loss: 0.01,
    mib: LOSS_TRANSFER_MIB,
  },
];

/**
 * In the sender: body bytes handed to open `files` channels (the 13-byte frame header not
 * counted), and how many `files` channels (connections) carried them.
 */
const COUNT_SENT = `(() => {
  const g = globalThis;
  g.__filesSent = { bytes: 0, channels: 0, seen: new WeakSet() };
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (this.label === 'files' && data instanceof ArrayBuffer && data.byteLength > 13 && this.readyState === 'open') {
      g.__filesSent.bytes += data.byteLength - 13;
      g.__filesSent.first ??= Date.now();
      g.__filesSent.last = Date.now();
      if (!g.__filesSent.seen.has(this)) { g.__filesSent.seen.add(this); g.__filesSent.channels += 1; }
    }
    return send.call(this, data);
  };
})();`;

/** In the receiver: body bytes arrived on `files` channels, and when the first and last did. */
const COUNT_RECEIVED = `(() => {
  const g = globalThis;
  g.__filesReceived = 0;
  g.__filesArrived = {};
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (label, init) {
    const channel = create.call(this, label, init);
    if (label === 'files')
      channel.addEventListener('message', (event) => {
        if (!(event.data instanceof ArrayBuffer) || event.data.byteLength <= 13) return;
        g.__filesReceived += event.data.byteLength - 13;
        g.__filesArrived.first ??= Date.now();
        g.__filesArrived.last = Date.now();
      });
    return channel;
  };
})();`;

let lab: NetLab | undefined;
const closeLab = async (code: number) => {
  await lab?.close();
  process.exit(code);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void closeLab(130));

const log = (...args: unknown[]) => console.log(...args);

async function browserIn(host: Host, scripts: string[]): Promise<LabBrowser> {
  if (!lab) throw new Error('no lab');
  const browser = await lab.launchBrowser(host);
  for (const content of [NAME_HELPER, RECORD_CHANNELS, ...scripts])
    await browser.context.addInitScript({ content });
  return browser;
}

/** The call connection's selected candidate pair, e.g. "host 10.1.0.2 → host 10.1.0.3". */
function selectedPair(page: Page): Promise<string> {
  return page.evaluate(async () => {
    type Entry = { pc: RTCPeerConnection; channels: RTCDataChannel[] };
    const pcs = (globalThis as unknown as { __benchPcs: Entry[] }).__benchPcs;
    const call = pcs
      .filter((e) => e.pc.connectionState === 'connected' && e.channels.some((c) => c.label === 'files'))
      .at(-1);
    if (!call) return 'no connected call';
    const stats = await call.pc.getStats();
    let out = '?';
    stats.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const pair = stats.get(s.selectedCandidatePairId);
      const l = pair && stats.get(pair.localCandidateId);
      const r = pair && stats.get(pair.remoteCandidateId);
      if (l && r) out = `${l.candidateType} ${l.address} → ${r.candidateType} ${r.address} (${l.protocol})`;
    });
    return out;
  });
}

type Times = { first?: number; last?: number };

/**
 * One Parley transfer of `bytes` from `sender` to `receiver`: MB/s from the drop to
 * "verified", and where the time went (this machine's clock on both sides).
 */
async function parleyThroughput(sender: Page, receiver: Page, name: string, bytes: number, label: string) {
  await makeLargeFile(sender, name, bytes);
  await sender.evaluate(() => {
    const g = globalThis as unknown as { __filesSent: Times };
    g.__filesSent.first = undefined;
  });
  await receiver.evaluate(() => {
    (globalThis as unknown as { __filesArrived: Times }).__filesArrived = {};
  });
  const start = Date.now();
  await dropFiles(sender);
  await waitDone(receiver, name, RUN_TIMEOUT_MS, label);
  const end = Date.now();
  const sent = await sender.evaluate(() => ({
    ...(globalThis as unknown as { __filesSent: Times }).__filesSent,
  }));
  const arrived = await receiver.evaluate(
    () => (globalThis as unknown as { __filesArrived: Times }).__filesArrived,
  );
  const ms = (a?: number, b?: number) => (a !== undefined && b !== undefined ? `${b - a} ms` : '?');
  const body =
    arrived.first !== undefined && arrived.last !== undefined && arrived.last > arrived.first
      ? `${round(bytes / ((arrived.last - arrived.first) / 1000) / 1e6, 2)} MB/s`
      : '?';
  log(
    `    Parley: drop → first frame sent ${ms(start, sent.first)}, first → last frame arrived ${ms(arrived.first, arrived.last)} (${body}), last frame sent → arrived ${ms(sent.last, arrived.last)}, last arrived → verified ${ms(arrived.last, end)}`,
  );
  return bytes / ((end - start) / 1000) / 1e6;
}

interface ConditionResult {
  ours: number;
  raw: number;
  ratio: number;
  ratios: number[];
}

async function measureCondition(
  condition: Condition,
  link: TunLink,
  ana: Page,
  bo: Page,
): Promise<ConditionResult> {
  await link.set({ delayMs: condition.delayMs, jitterMs: 0, loss: condition.loss });
  const bytes = condition.mib * MiB;
  const warm = Math.min(bytes, 4 * MiB);
  const label = (what: string) => `${condition.label}, ${what}`;
  // Unmeasured: the association's congestion window finds the new path, both loops are warm.
  await rawThroughput(ana, bo, warm, {
    from: RAW_ID_FROM,
    chunkBytes: RAW_CHUNK_BYTES,
    timeoutMs: RUN_TIMEOUT_MS,
    label: label('warm-up'),
  });
  await parleyThroughput(ana, bo, `warm-${condition.key}.bin`, warm, label('warm-up'));
  const ours: number[] = [];
  const raw: number[] = [];
  const ratios: number[] = [];
  for (let pair = 0; pair < PAIRS; pair += 1) {
    const what = label(`pair ${pair + 1}`);
    // Raw first in even pairs, Parley first in odd ones: a drift in the machine's load
    // weighs on both alike.
    const runRaw = () =>
      rawThroughput(ana, bo, bytes, {
        from: RAW_ID_FROM,
        chunkBytes: RAW_CHUNK_BYTES,
        timeoutMs: RUN_TIMEOUT_MS,
        label: what,
      });
    const runOurs = () => parleyThroughput(ana, bo, `bench-${condition.key}-${pair}.bin`, bytes, what);
    let r: { mbPerS: number };
    let o: number;
    if (pair % 2 === 0) {
      r = await runRaw();
      o = await runOurs();
    } else {
      o = await runOurs();
      r = await runRaw();
    }
    raw.push(r.mbPerS);
    ours.push(o);
    ratios.push(o / r.mbPerS);
    log(
      `  ${what}: raw ${round(r.mbPerS, 2)} MB/s, Parley ${round(o, 2)} MB/s, ratio ${round(o / r.mbPerS, 2)}×`,
    );
  }
  const stats = await link.stats();
  log(`  call connection now: ${await selectedPair(ana)}`);
  const result = { ours: median(ours), raw: median(raw), ratio: median(ratios), ratios };
  log(
    `${condition.label} (${condition.mib} MiB each): Parley ${round(result.ours, 2)} MB/s, raw ${round(result.raw, 2)} MB/s; ` +
      `per-pair ratios ${ratios.map((x) => round(x, 2)).join(', ')}, median ${round(result.ratio, 2)}× ` +
      `(goal ≥ 0.9×: ${result.ratio >= 0.9 ? 'met' : 'NOT met'}); link so far: ${stats.forwarded} packets forwarded, ${stats.dropped} dropped`,
  );
  return result;
}

/** Written bytes of the incoming card `name` (its progress bar's value). */
function waitWritten(receiver: Page, name: string, atLeast: number): Promise<unknown> {
  return receiver.waitForFunction(
    ([name, atLeast]) => {
      const li = [...document.querySelectorAll('li.parley-file')].find(
        (li) => li.querySelector('.parley-file-name')?.textContent === name,
      );
      return (li?.querySelector('progress')?.value ?? 0) >= Number(atLeast);
    },
    [name, atLeast] as const,
    { timeout: RUN_TIMEOUT_MS, polling: 50 },
  );
}

async function resumeOverhead(link: TunLink, ana: Page, bo: Page) {
  await link.set({ delayMs: 20, jitterMs: 0, loss: 0 });
  const size = RESUME_MIB * MiB;
  const name = 'resume.bin';
  await makeLargeFile(ana, name, size);
  await ana.evaluate(() => {
    const g = globalThis as unknown as {
      __filesSent: { bytes: number; channels: number; seen: WeakSet<object> };
    };
    g.__filesSent = { bytes: 0, channels: 0, seen: new WeakSet() };
  });
  await bo.evaluate(() => {
    (globalThis as unknown as { __filesReceived: number }).__filesReceived = 0;
  });
  // Bo's card states as they come (the pauses may be short).
  await bo.evaluate((name) => {
    const w = window as unknown as { __resumeStates: string[] };
    w.__resumeStates = [];
    setInterval(() => {
      const li = [...document.querySelectorAll<HTMLElement>('li.parley-file')].find(
        (li) => li.querySelector('.parley-file-name')?.textContent === name,
      );
      const state = li?.dataset.state ?? '';
      if (w.__resumeStates.at(-1) !== state) w.__resumeStates.push(state);
    }, 20);
  }, name);
  const start = Date.now();
  await dropFiles(ana);

  await waitWritten(bo, name, size / 3);
  log(`  cut 1: link down for ${CUT_MS / 1000} s at ${round((Date.now() - start) / 1000)} s`);
  await link.set({ loss: 1 });
  await sleep(CUT_MS);
  await link.set({ loss: 0 });

  await waitWritten(bo, name, (2 * size) / 3);
  // What waits in Ana's files channel now is lost with the association, and sent again.
  const queued = await ana.evaluate(() => {
    type Entry = { pc: RTCPeerConnection; channels: RTCDataChannel[] };
    const pcs = (globalThis as unknown as { __benchPcs: Entry[] }).__benchPcs;
    const call = pcs
      .filter((e) => e.pc.connectionState === 'connected' && e.channels.some((c) => c.label === 'files'))
      .at(-1);
    return call?.channels.find((c) => c.label === 'files')?.bufferedAmount ?? null;
  });
  log(
    `  cut 2: the call's data channels closed on Bo's side at ${round((Date.now() - start) / 1000)} s ` +
      `(${queued ?? '?'} bytes waited in Ana's files channel just before)`,
  );
  await bo.evaluate(() => {
    type Entry = { pc: RTCPeerConnection; channels: RTCDataChannel[] };
    const pcs = (globalThis as unknown as { __benchPcs: Entry[] }).__benchPcs;
    const call = pcs
      .filter((e) => e.pc.connectionState === 'connected' && e.channels.some((c) => c.label === 'files'))
      .at(-1);
    if (!call) throw new Error('no connected call to cut');
    for (const channel of call.channels) channel.close();
  });

  await waitDone(bo, name, RUN_TIMEOUT_MS, 'resume run');
  const seconds = (Date.now() - start) / 1000;
  const sent = await ana.evaluate(() => {
    const { bytes, channels } = (
      globalThis as unknown as { __filesSent: { bytes: number; channels: number } }
    ).__filesSent;
    return { bytes, channels };
  });
  const received = await bo.evaluate(
    () => (globalThis as unknown as { __filesReceived: number }).__filesReceived,
  );
  const states = await bo.evaluate(() => (window as unknown as { __resumeStates: string[] }).__resumeStates);
  const pct = ((sent.bytes - size) / size) * 100;
  log(
    `resume: ${RESUME_MIB} MiB cut twice, verified after ${round(seconds)} s (${round(size / seconds / 1e6, 2)} MB/s); ` +
      `Ana's page sent ${sent.bytes} body bytes on ${sent.channels} connection(s): ${sent.bytes - size} extra, ${round(pct, 2)}% of the file; ` +
      `Bo received ${received - size} bytes twice (${round(((received - size) / size) * 100, 2)}%); Bo's card: ${states.join(' → ')}`,
  );
  return pct;
}

try {
  log(
    `bench:transfer-net ${new Date().toISOString()}, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(
        ' ',
      )}; ${PAIRS} pairs of ${TRANSFER_MIB} MiB (${LOSS_TRANSFER_MIB} MiB with loss), resume ${RESUME_MIB} MiB`,
  );
  lab = await NetLab.create();
  const home = await lab.addHome('home', { kind: 'nat' });
  await lab.startServices();
  const far = await lab.addHostOverTun('ana', home, { lan: true });
  const near = await lab.addHost('bo', [home]);
  await far.link.set({ delayMs: 20, jitterMs: 0, loss: 0 });
  const anaBrowser = await browserIn(far.host, [COUNT_SENT]);
  const boBrowser = await browserIn(near, [COUNT_RECEIVED]);
  const link = newLink();
  const ana = await join(anaBrowser, link, 'Ana', { camera: false });
  const bo = await join(boBrowser, link, 'Bo', { camera: false });
  await Promise.all([filesReady(ana, 'Ana'), filesReady(bo, 'Bo')]);
  log(`call connection (Ana's side): ${await selectedPair(ana)}`);

  const figures: Record<string, number | null> = {};
  for (const condition of CONDITIONS) {
    if (!PHASES.includes(condition.key)) continue;
    const result = await measureCondition(condition, far.link, ana, bo);
    figures[`ours_mb_per_s_${condition.key}`] = round(result.ours, 2);
    figures[`raw_mb_per_s_${condition.key}`] = round(result.raw, 2);
  }
  if (PHASES.includes('resume'))
    figures.resume_overhead_pct = round(await resumeOverhead(far.link, ana, bo), 2);

  const at = (key: string) => figures[key] ?? null;
  const ratios = CONDITIONS.filter((c) => PHASES.includes(c.key)).map((c) => {
    const ours = at(`ours_mb_per_s_${c.key}`);
    const raw = at(`raw_mb_per_s_${c.key}`);
    return `${c.label}: Parley ${ours} MB/s, raw ${raw} MB/s (${ours && raw ? round(ours / raw, 2) : '?'}× of medians)`;
  });
  log(`summary (load average now ${loadavg()[0]?.toFixed(1)}): ${ratios.join('; ')}`);
  if (figures.resume_overhead_pct !== undefined)
    log(`resume overhead: ${figures.resume_overhead_pct}% of ${RESUME_MIB} MiB sent again over two cuts`);
  console.log(
    JSON.stringify({
      bench: 'transfer-net',
      ours_mb_per_s_40ms: at('ours_mb_per_s_40ms'),
      raw_mb_per_s_40ms: at('raw_mb_per_s_40ms'),
      ours_mb_per_s_100ms: at('ours_mb_per_s_100ms'),
      raw_mb_per_s_100ms: at('raw_mb_per_s_100ms'),
      ours_mb_per_s_40ms_loss1: at('ours_mb_per_s_40ms_loss1'),
      raw_mb_per_s_40ms_loss1: at('raw_mb_per_s_40ms_loss1'),
      resume_overhead_pct: at('resume_overhead_pct'),
    }),
  );
  await closeLab(0);
} catch (err) {
  console.error(`bench:transfer-net failed: ${err instanceof Error ? err.message : String(err)}`);
  await closeLab(1);
}
