/**
 * `npm run bench:transfer`: file transfer between two separate Chromium profiles through the
 * real signaling server (loopback), for two receivers:
 *   - guest: both people on the guest page (received files go to the page's OPFS worker);
 *   - extension: the receiver is the extension overlay (Ana, call started from the real
 *     popup), the sender a guest; received files go over a runtime port to the offscreen
 *     document's OPFS.
 * For each receiver:
 *  1. (guest only) drop → thumbnail visible on the receiver for a 4000×3000 JPEG, and whether
 *     the thumbnail showed before the first body frame arrived on the receiver's files channel;
 *  2. after one small unmeasured warm-up pair, RUNS interleaved pairs on the same connection:
 *     raw, Parley, raw, Parley…, the ratio
 *     Parley/raw taken per pair (so the machine's drift weighs on both), then their median.
 *     Raw: a bare send loop of 64 KiB ArrayBuffers on a negotiated channel added to the
 *     call's RTCPeerConnection (bench/lib/transfer-raw.ts). Parley: a dropped file of the
 *     same size, timed from the drop to "Received and verified" on the receiver;
 *  3. the receiver's memory growth while receiving 1 GiB: peak minus baseline of the summed
 *     resident memory of all the receiving browser's processes (the browser process holds
 *     Blob data and the storage service's buffers; Chromium's on-device model service, which
 *     starts by itself, left out), and, printed too, of its renderers only, of each kind of
 *     process, and the V8 heaps (JS heap, ArrayBuffer backing stores) of the receiving
 *     document and its workers. The baseline is taken after a full garbage collection there.
 * Sizes: TRANSFER_MIB (default 256), MEMORY_MIB (1024), RUNS (3); RECEIVERS=guest,extension;
 * RUN_TIMEOUT_S (300, per TRANSFER_MIB run; the memory run gets it scaled by size): a run that
 * does not finish in time fails the bench with what each side saw.
 * Each pair also prints the CPU seconds both browsers used during the raw and the Parley run, by
 * process kind and thread name. PROBE=1: the sender's `files` channel queue sampled every
 * 25 ms during each Parley run (share of samples under 256 KiB and under 2 MiB between the
 * first and last send, its mean; first and last send and the end, in ms from the drop).
 * PROFILE=1: CPU profiles of the sender's and the receiver's main threads (and the offscreen
 * document) during the first measured Parley run, self time per function.
 * The last line is one JSON object.
 *
 * `--firefox` measures instead transfers with Firefox on one side (its guest page, its
 * extension overlay; FIREFOX_SIDES=guest,extension) and Chromium on the other, against two
 * Chromium guests in the same run: bench/lib/firefox-transfer.ts.
 */

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { dropTestFiles, joinCall, makeFiles, recordCards } from '../test/e2e/files-helpers.ts';
import { launchBrowser, ORDINARY_PAGE, startPageServer } from '../test/e2e/harness.ts';
import { launchExtensionUser, overlayFrame, startCallFromPopup } from '../test/e2e/popup-driver.ts';
import { ROOT, type ServerHandle, startServer } from '../test/helpers/server-process.ts';
import { firefoxTransferBench } from './lib/firefox-transfer.ts';
import { type HeapWatch, watchHeaps } from './lib/transfer-heap.ts';
import {
  cpuSeconds,
  cpuSpent,
  type MemoryGrowth,
  sampleGrowth,
  UNRELATED_ROLES,
} from './lib/transfer-memory.ts';
import { type ProfileTarget, startProfiles } from './lib/transfer-profile.ts';
import { RECORD_CHANNELS, rawThroughput } from './lib/transfer-raw.ts';
import { MiB, makeLargeFile, median, NAME_HELPER, round, waitDone } from './lib/transfer-steps.ts';

const TRANSFER_MIB = Number(process.env.TRANSFER_MIB ?? 256);
const MEMORY_MIB = Number(process.env.MEMORY_MIB ?? 1024);
const RUNS = Number(process.env.RUNS ?? 3);
const RUN_TIMEOUT_MS = Number(process.env.RUN_TIMEOUT_S ?? 300) * 1000;
/** CPU profiles of the renderers' main threads during the first measured Parley run. */
const PROFILE = process.env.PROFILE === '1';
const RECEIVERS = (process.env.RECEIVERS ?? 'guest,extension').split(',').map((r) => r.trim());
/** Raw channels get ids from here up (the call's own are 0 and 1), each checked unused. */
const RAW_ID_FROM = 100;
const log = (...args: unknown[]) => console.log(...args);

/** Records on the receiver when the first binary frame arrives on a data channel labelled 'files'. */
const FIRST_BODY_PROBE = `
  (() => {
    const add = RTCDataChannel.prototype.addEventListener;
    RTCDataChannel.prototype.addEventListener = function (type, listener, options) {
      if (type === 'message' && this.label === 'files') {
        const wrapped = (event) => {
          if (event.data instanceof ArrayBuffer) globalThis.firstBodyAt ??= performance.now();
          return typeof listener === 'function' ? listener.call(this, event) : listener.handleEvent(event);
        };
        return add.call(this, type, wrapped, options);
      }
      return add.call(this, type, listener, options);
    };
  })();
`;

/** Two people in a call: files go from `sender` (a guest page) to `receiver`. */
interface Pair {
  sender: Page;
  receiver: Page | Frame;
  /** Identifies the receiving Chromium's browser process (for its memory and CPU). */
  receiverMarker: string;
  /** Identifies the sending Chromium's browser process (for its CPU). */
  senderMarker: string;
  /** Other threads to profile with PROFILE=1 (the offscreen document). */
  moreProfileTargets?(): Promise<ProfileTarget[]>;
  /** The DevTools target of the document whose V8 heaps (and its workers') the memory run samples. */
  heapTarget(): Promise<{ name: string; webSocketDebuggerUrl: string }>;
  close(): Promise<void>;
}

interface DevToolsTarget {
  type: string;
  url: string;
  webSocketDebuggerUrl: string;
}

/** The DevTools targets of a browser launched with --remote-debugging-port=0. */
async function devToolsTargets(userDataDir: string): Promise<DevToolsTarget[]> {
  const port = (await readFile(join(userDataDir, 'DevToolsActivePort'), 'utf8')).split('\n')[0];
  return (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as DevToolsTarget[];
}

async function guestPair(server: ServerHandle): Promise<Pair> {
  const [ana, bo] = await Promise.all([
    launchBrowser({ extension: false }),
    // The receiver's DevTools port: its V8 heaps during the memory run.
    launchBrowser({ extension: false, args: ['--remote-debugging-port=0'] }),
  ]);
  const close = async () => {
    await Promise.all([ana.close(), bo.close()]);
  };
  try {
    await bo.context.addInitScript({ content: FIRST_BODY_PROBE });
    for (const user of [ana, bo]) {
      await user.context.addInitScript({ content: NAME_HELPER });
      await user.context.addInitScript({ content: RECORD_CHANNELS });
    }
    const { a, b } = await joinCall(server.url, ana.context, bo.context);
    return {
      sender: a,
      receiver: b,
      receiverMarker: `--user-data-dir=${bo.userDataDir}`,
      senderMarker: `--user-data-dir=${ana.userDataDir}`,
      async heapTarget() {
        const page = (await devToolsTargets(bo.userDataDir)).find(
          (t) => t.type === 'page' && new URL(t.url).pathname.startsWith('/r/'),
        );
        if (!page) throw new Error('The receiving guest page is not among the DevTools targets.');
        return { name: 'guest page', webSocketDebuggerUrl: page.webSocketDebuggerUrl };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function extensionPair(server: ServerHandle): Promise<Pair> {
  if (!existsSync(join(ROOT, 'dist-e2e/manifest.json')))
    throw new Error('The e2e extension is not built: run `npm run build:ext:e2e` first.');
  const pages = await startPageServer({ '/': ORDINARY_PAGE });
  const [ana, guest] = await Promise.all([launchExtensionUser(), launchBrowser({ extension: false })]);
  const close = async () => {
    await Promise.all([ana.close(), guest.close()]);
    await pages.close();
  };
  try {
    await ana.context.addInitScript({ content: RECORD_CHANNELS });
    await guest.context.addInitScript({ content: NAME_HELPER });
    await guest.context.addInitScript({ content: RECORD_CHANNELS });
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'audio' });
    const overlay: Frame = await overlayFrame(anaPage, ana.extensionId);
    const bo = await guest.context.newPage();
    await bo.goto(link);
    await bo.getByRole('textbox', { name: 'Your name' }).fill('Bo');
    const camera = bo.getByLabel('Join with camera');
    if (await camera.count()) await camera.uncheck();
    await bo.getByRole('button', { name: 'Join call' }).click();
    for (const target of [bo, overlay]) {
      await target
        .getByRole('button', { name: 'Send files', exact: true })
        .and(target.locator(':enabled'))
        .waitFor({ timeout: 30_000 });
    }
    return {
      sender: bo,
      receiver: overlay,
      receiverMarker: `--remote-debugging-port=${ana.cdpPort}`,
      senderMarker: `--user-data-dir=${guest.userDataDir}`,
      async moreProfileTargets() {
        const offscreen = (await ana.targets()).find((t) => t.url.endsWith('/src/offscreen/offscreen.html'));
        return offscreen
          ? [{ name: 'offscreen document', webSocketDebuggerUrl: offscreen.webSocketDebuggerUrl }]
          : [];
      },
      async heapTarget() {
        const offscreen = (await ana.targets()).find((t) => t.url.endsWith('/src/offscreen/offscreen.html'));
        if (!offscreen) throw new Error('The offscreen document is not among the DevTools targets.');
        return { name: 'extension main thread', webSocketDebuggerUrl: offscreen.webSocketDebuggerUrl };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

interface Result {
  ours: number[];
  raw: number[];
  ratios: number[];
  /** Per pair: CPU seconds of both browsers during Parley's run / during the raw run. */
  cpuRatios: number[];
  memory: MemoryGrowth;
}

/** Interleaved raw/Parley pairs, then the memory run. */
async function measure(pair: Pair, receiverName: string): Promise<Result> {
  const { sender, receiver } = pair;
  const bytes = TRANSFER_MIB * MiB;
  const ours: number[] = [];
  const raw: number[] = [];
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  /** CPU seconds used so far by both browsers, per kind of process. */
  const cpu = async () => ({
    sender: await cpuSeconds(pair.senderMarker),
    receiver: await cpuSeconds(pair.receiverMarker),
  });
  type Cpu = Awaited<ReturnType<typeof cpu>>;
  const spent = (before: Cpu, after: Cpu) => ({
    sender: cpuSpent(before.sender, after.sender),
    receiver: cpuSpent(before.receiver, after.receiver),
  });
  const total = (c: Cpu) => c.sender.all! + c.receiver.all!;
  const kinds = (c: Record<string, number>) =>
    Object.entries(c)
      .filter(([kind, s]) => kind !== 'all' && s >= 0.1)
      .sort((x, y) => y[1] - x[1])
      .map(([kind, s]) => `${kind} ${round(s)}`)
      .join(', ');
  // One small unmeasured pair first: the first loop on a fresh connection is slower (SCTP
  // window growth, code not yet optimised), whichever of raw or Parley goes first.
  const warmBytes = Math.min(bytes, 16 * MiB);
  await rawThroughput(sender, receiver, warmBytes, {
    from: RAW_ID_FROM,
    timeoutMs: RUN_TIMEOUT_MS,
    label: `${receiverName} receiver, warm-up`,
  });
  await makeLargeFile(sender, `warm-up-${receiverName}.bin`, warmBytes);
  await dropTestFiles(sender);
  await waitDone(
    receiver,
    `warm-up-${receiverName}.bin`,
    RUN_TIMEOUT_MS,
    `${receiverName} receiver, warm-up`,
  );
  for (let run = 0; run < RUNS; run += 1) {
    const label = `${receiverName} receiver, pair ${run + 1}`;
    const cpuBeforeRaw = await cpu();
    const r = await rawThroughput(sender, receiver, bytes, {
      from: RAW_ID_FROM,
      timeoutMs: RUN_TIMEOUT_MS,
      label,
    });
    const cpuRaw = spent(cpuBeforeRaw, await cpu());
    const name = `bench-${receiverName}-${run}.bin`;
    await makeLargeFile(sender, name, bytes);
    const profiler =
      PROFILE && run === 0
        ? await startProfiles([
            { name: 'sender page', target: sender },
            { name: `receiver (${receiverName})`, target: receiver },
            ...((await pair.moreProfileTargets?.()) ?? []),
          ])
        : null;
    const cpuBeforeOurs = await cpu();
    if (process.env.PROBE === '1')
      await sender.evaluate(() => {
        const g = globalThis as unknown as {
          __benchPcs: { channels: RTCDataChannel[] }[];
          __probe?: { samples: number[]; timer: ReturnType<typeof setInterval>; t0: number; sends: number[] };
        };
        const channel = g.__benchPcs
          .flatMap((e) => e.channels)
          .filter((c) => c.label === 'files' && c.readyState === 'open')
          .at(-1)!;
        const probe = {
          samples: [] as number[],
          t0: performance.now(),
          sends: [] as number[],
          timer: 0 as unknown as ReturnType<typeof setInterval>,
        };
        const send = channel.send.bind(channel);
        (channel as unknown as { send: (d: ArrayBuffer) => void }).send = (d: ArrayBuffer) => {
          probe.sends.push(performance.now() - probe.t0);
          send(d);
        };
        probe.timer = setInterval(() => probe.samples.push(channel.bufferedAmount), 25);
        g.__probe = probe;
      });
    const start = Date.now();
    await dropTestFiles(sender);
    await waitDone(receiver, name, RUN_TIMEOUT_MS, label);
    const o = bytes / ((Date.now() - start) / 1000) / 1e6;
    const cpuOurs = spent(cpuBeforeOurs, await cpu());
    if (process.env.PROBE === '1') {
      const p = await sender.evaluate(() => {
        const g = globalThis as unknown as {
          __probe: { samples: number[]; timer: ReturnType<typeof setInterval>; t0: number; sends: number[] };
        };
        clearInterval(g.__probe.timer);
        const { samples, sends, t0 } = g.__probe;
        const first = sends[0] ?? 0;
        const last = sends.at(-1) ?? 0;
        const during = samples.slice(Math.floor(first / 25), Math.ceil(last / 25));
        const MiB = 1024 * 1024;
        return {
          firstSendMs: Math.round(first),
          lastSendMs: Math.round(last),
          endMs: Math.round(performance.now() - t0),
          dry: during.filter((b) => b < 256 * 1024).length / during.length,
          low: during.filter((b) => b < 2 * MiB).length / during.length,
          mean: during.reduce((a, b) => a + b, 0) / during.length / MiB,
        };
      });
      log(`  probe: ${JSON.stringify(p)}`);
    }
    cpuRatios.push(total(cpuOurs) / total(cpuRaw));
    raw.push(r.mbPerS);
    ours.push(o);
    ratios.push(o / r.mbPerS);
    await profiler?.stopAndPrint();
    log(
      `${label}: raw ${round(r.mbPerS)} MB/s (channel id ${r.id}), Parley ${round(o)} MB/s, ratio ${round(o / r.mbPerS, 2)}×; ` +
        `CPU of both browsers Parley/raw ${round(total(cpuOurs) / total(cpuRaw), 2)}×\n` +
        `  CPU s, raw: sender ${kinds(cpuRaw.sender)}; receiver ${kinds(cpuRaw.receiver)}\n` +
        `  CPU s, Parley: sender ${kinds(cpuOurs.sender)}; receiver ${kinds(cpuOurs.receiver)}`,
    );
  }

  await makeLargeFile(sender, `memory-${receiverName}.bin`, MEMORY_MIB * MiB);
  const heapTarget = await pair.heapTarget();
  const heaps: HeapWatch = await watchHeaps(heapTarget.webSocketDebuggerUrl, heapTarget.name);
  let memory: MemoryGrowth;
  try {
    // The baseline without the garbage of the earlier runs (the chunks they received).
    await heaps.collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await heaps.sample();
    memory = await sampleGrowth(
      pair.receiverMarker,
      async () => {
        await dropTestFiles(sender);
        await waitDone(
          receiver,
          `memory-${receiverName}.bin`,
          RUN_TIMEOUT_MS * Math.max(1, MEMORY_MIB / TRANSFER_MIB),
          `${receiverName} receiver, memory run`,
        );
      },
      () => heaps.sample(),
    );
  } finally {
    heaps.close();
  }
  const mib = (bytes: number) => round(bytes / MiB);
  log(
    `${receiverName} receiver memory while receiving ${MEMORY_MIB} MiB: renderers ${mib(memory.rendererBaseline)} → peak ${mib(memory.rendererPeak)} MiB (growth ${mib(memory.rendererPeak - memory.rendererBaseline)} MiB); all processes ${mib(memory.allBaseline)} → ${mib(memory.allPeak)} MiB (growth ${mib(memory.allPeak - memory.allBaseline)} MiB)\n` +
      `  growth by process (at the peak of all / its own peak, MiB): ${Object.entries(memory.byRole)
        .sort((a, b) => b[1].atPeak - a[1].atPeak)
        .map(
          ([role, g]) =>
            `${role} ${mib(g.atPeak)} / ${mib(g.peak)}${UNRELATED_ROLES.has(role) ? ' (not counted)' : ''}`,
        )
        .join(', ')}\n` +
      `  V8 heaps (first sample → peak, MiB; JS heap used, ArrayBuffer backing stores): ${[...heaps.figures]
        .map(
          ([name, f]) =>
            `${name}: used ${mib(f.first.used)} → ${mib(f.peak.used)}, buffers ${mib(f.first.backing)} → ${mib(f.peak.backing)}`,
        )
        .join('; ')}`,
  );
  log(
    `${receiverName} receiver: per-pair ratios ${ratios.map((x) => round(x, 2)).join(', ')}; median ratio ${round(median(ratios), 2)}× (Parley median ${round(median(ours))} MB/s, raw median ${round(median(raw))} MB/s); CPU of both browsers, Parley/raw per pair ${cpuRatios.map((x) => round(x, 2)).join(', ')}`,
  );
  return { ours, raw, ratios, cpuRatios, memory };
}

/** Drop → thumbnail on the receiver, and whether the thumbnail beat the first body frame. */
async function thumbnailCheck(pair: Pair & { receiver: Page }): Promise<{ ms: number; beforeBody: boolean }> {
  const { sender: a, receiver: b } = pair;
  await recordCards(b);
  await makeFiles(a, [{ kind: 'jpeg', name: 'photo.jpg', width: 4000, height: 3000 }]);
  const dropAt = Date.now();
  await dropTestFiles(a);
  await b.waitForFunction(
    () => {
      const img = document.querySelector<HTMLImageElement>('li.parley-file img.parley-file-thumb-img');
      return img?.complete && img.naturalWidth > 0;
    },
    undefined,
    { timeout: 60_000, polling: 10 },
  );
  const ms = Date.now() - dropAt;
  await waitDone(b, 'photo.jpg', RUN_TIMEOUT_MS, 'thumbnail check');
  const { thumbAt, firstBodyAt } = await b.evaluate(() => ({
    thumbAt: (window as unknown as { cardLog: Record<string, { thumbAt?: number }> }).cardLog['photo.jpg']
      ?.thumbAt,
    firstBodyAt: (globalThis as { firstBodyAt?: number }).firstBodyAt,
  }));
  const beforeBody = thumbAt !== undefined && firstBodyAt !== undefined && thumbAt <= firstBodyAt;
  log(`drop → thumbnail on the receiver: ${ms} ms; thumbnail before first body frame: ${beforeBody}`);
  return { ms, beforeBody };
}

const growthMiB = (m: MemoryGrowth) => round((m.rendererPeak - m.rendererBaseline) / MiB);
const allGrowthMiB = (m: MemoryGrowth) => round((m.allPeak - m.allBaseline) / MiB);
/** Each kind of process's growth at the peak of all of them, MiB. */
const growthByProcess = (m: MemoryGrowth) =>
  Object.fromEntries(Object.entries(m.byRole).map(([role, g]) => [role, round(g.atPeak / MiB)]));

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'build/guest/index.html'))) {
    throw new Error('The guest page is not built: run `npm run build:guest` first.');
  }
  if (process.argv.includes('--firefox')) {
    log(
      `bench:transfer --firefox ${new Date().toISOString()}, load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    await firefoxTransferBench({
      bytes: TRANSFER_MIB * MiB,
      runs: RUNS,
      timeoutMs: RUN_TIMEOUT_MS,
      rawIdFrom: RAW_ID_FROM,
    });
    return;
  }
  log(
    `bench:transfer ${new Date().toISOString()}, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(
        ' ',
      )}; ${RUNS} pairs of ${TRANSFER_MIB} MiB, memory with ${MEMORY_MIB} MiB; receivers ${RECEIVERS.join(', ')}`,
  );
  const server = await startServer();
  const summary: Record<string, unknown> = { bench: 'transfer' };
  try {
    if (RECEIVERS.includes('guest')) {
      const pair = await guestPair(server);
      try {
        const thumb = await thumbnailCheck(pair as Pair & { receiver: Page });
        const result = await measure(pair, 'guest');
        Object.assign(summary, {
          ours_mb_per_s: round(median(result.ours)),
          raw_mb_per_s: round(median(result.raw)),
          ratio_median: round(median(result.ratios), 2),
          ratios: result.ratios.map((x) => round(x, 2)),
          cpu_ratio_median: round(median(result.cpuRatios), 2),
          receiver_growth_mib_1gib: allGrowthMiB(result.memory),
          receiver_growth_renderers_mib_1gib: growthMiB(result.memory),
          receiver_growth_by_process_mib_1gib: growthByProcess(result.memory),
          drop_to_thumbnail_ms: thumb.ms,
          thumbnail_before_body: thumb.beforeBody,
        });
      } finally {
        await pair.close();
      }
    }
    if (RECEIVERS.includes('extension')) {
      const pair = await extensionPair(server);
      try {
        const result = await measure(pair, 'extension');
        Object.assign(summary, {
          extension_mb_per_s: round(median(result.ours)),
          extension_raw_mb_per_s: round(median(result.raw)),
          extension_ratio_median: round(median(result.ratios), 2),
          extension_ratios: result.ratios.map((x) => round(x, 2)),
          extension_cpu_ratio_median: round(median(result.cpuRatios), 2),
          extension_growth_mib_1gib: allGrowthMiB(result.memory),
          extension_growth_renderers_mib_1gib: growthMiB(result.memory),
          extension_growth_by_process_mib_1gib: growthByProcess(result.memory),
        });
      } finally {
        await pair.close();
      }
    }
  } finally {
    await server.stop();
  }
  console.log(JSON.stringify(summary));
}

if (process.argv[1]?.endsWith('transfer.ts')) {
  try {
    await main();
  } catch (error) {
    console.error(`bench:transfer failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
