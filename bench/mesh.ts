/**
 * `npm run bench:mesh`: what a full-mesh group call costs as it grows.
 *
 * For N = 2, 3, 4 and 6 people on one link (guest pages, fake camera scaled to 320×180 at
 * CAPTURE_FPS frames per second and fake microphone, real signaling server): N − 1 people
 * join one at a time and settle (everyone sees everyone, then the prepared offers for the
 * next person have their moment), then the newcomer opens the link and presses "Join call".
 *
 * Browsers (BROWSERS): `shared` (default) runs ONE headless Chromium with one BrowserContext
 * per person: each person's page is its own renderer process (where their WebRTC encoders,
 * decoders and page run), and the browser, GPU, network, audio and video-capture processes
 * are paid once, not N times. `per-person` is the old mode: one Chromium per person, six
 * copies of Chromium's fixed overhead at N = 6.
 *
 * Measured per call:
 *   join → all videos: from the newcomer's click on "Join call" to the first frame of the
 *     LAST of the N − 1 remote camera videos on the newcomer's page (each video's first
 *     presented frame with dimensions, via requestVideoFrameCallback, in the page's clock).
 *   uplink: for each person, the rate of growth of `bytesSent` summed over every outbound RTP
 *     stream of every RTCPeerConnection in the page (audio and video, all N − 1 copies), over
 *     a WINDOW_S-second window once everyone sees everyone; with the caps the uplink budget
 *     put on the video senders (src/call/uplink-budget.ts) read back the same way, and the
 *     video frames encoded per second (all copies).
 *   CPU per person (user + system time from /proc/<pid>/stat over the same window, % of one
 *     core): `shared`: the renderer processes that appeared while the person's page opened
 *     (their own), plus 1/N of the browser's other processes (browser, GPU, network, audio,
 *     video capture: the common part, also printed on its own); `per-person`: the person's
 *     whole Chromium process tree.
 *   The newcomer's page also checks that every remote video keeps decoding (framesDecoded of
 *     every inbound video stream grows over the window).
 *
 * N = 2 is the baseline, in the same run, with the same camera; the sizes are interleaved
 * (2, 3, 4, 6, 2, 3, …) so that a slower minute of a shared machine weighs on all of them
 * alike. A size written with a `u` ("6u") is that size with the uplink budget's frame-rate
 * cap taken out in the pages (what the cap saves). A call that does not finish within
 * CALL_TIMEOUT_S fails with what each page saw, and the bench goes on with the next call and
 * exits with an error at the end. Prints every call, then medians and the goals (join → all
 * videos at N = 6 ≤ 1.5 × N = 2; uplink per person at N = 6 ≤ 4 Mbit/s), and last one JSON
 * line.
 *
 * RUNS (default 3): calls per size. SIZES (default "2,3,4,6"). WINDOW_S (default 10).
 * CAPTURE_FPS (default 20; the fake camera gives 30). CALL_TIMEOUT_S (default 240).
 * BROWSERS: shared | per-person. VIDEO=720: the fake camera at 1280×720 (the uplink budget's
 * resolution caps then bite; heavy). THREADS=1: CPU per thread name over the window, of a
 * person's own renderer (mean of the people) and of the common processes, per call and per
 * size (bench/lib/mesh-threads.ts). PROFILE=1: a CPU profile of the newcomer's main thread
 * over the window (CDP Profiler), self time by function. GUEST_DIR: another build of the
 * guest page (e.g. a copy of build/guest from before a change), served by the bench's server.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { UPLINK_BUDGET_KBPS } from '../src/call/uplink-budget.ts';
import { formatShareLink, newShareLink } from '../src/protocol/link.ts';
import { CHROME_FLAGS, chromePath, launchBrowser } from '../test/e2e/harness.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { median, sleep } from './lib/bench-process.ts';
import { ALL_VIDEOS, instrument, STATS, type Stats, TIMELINE_MARKS } from './lib/mesh-pages.ts';
import {
  profileSummary,
  type ThreadCpu,
  threadBreakdown,
  threadSnapshot,
  threadTable,
} from './lib/mesh-threads.ts';
import { alive, browserPidWith, cpuSecondsOf, processTree, rendererPids } from './lib/proc-tree.ts';

const RUNS = Number(process.env.RUNS ?? 3);
const SIZES = (process.env.SIZES ?? '2,3,4,6').split(',').map((s) => s.trim());
const WINDOW_S = Number(process.env.WINDOW_S ?? 10);
const CAPTURE_FPS = Number(process.env.CAPTURE_FPS ?? 20);
const CALL_TIMEOUT_MS = Number(process.env.CALL_TIMEOUT_S ?? 240) * 1000;
const SHARED = (process.env.BROWSERS ?? 'shared') === 'shared';
if (!['shared', 'per-person', undefined].includes(process.env.BROWSERS))
  throw new Error(`BROWSERS must be "shared" or "per-person", not "${process.env.BROWSERS}"`);
for (const s of SIZES)
  if (!/^[2-6]u?$/.test(s)) throw new Error(`SIZES: "${s}" is not a size from 2 to 6 (or "6u")`);
const [WIDTH, HEIGHT] = process.env.VIDEO === '720' ? [1280, 720] : [320, 180];
const TIMELINE = process.env.TIMELINE === '1';
/** THREADS=1: CPU per thread (by name) of each person's renderer and of the common processes. */
const THREADS = process.env.THREADS === '1';
/** PROFILE=1: a CPU profile of the newcomer's main thread over the window (CDP Profiler). */
const PROFILE = process.env.PROFILE === '1';
if ((THREADS || PROFILE) && process.env.BROWSERS === 'per-person')
  throw new Error('THREADS=1 and PROFILE=1 need BROWSERS=shared (the default)');
const NAMES = ['Ana', 'Bruno', 'Chen', 'Dana', 'Emil', 'Fay'];
/** After the room settled: long enough for the next person's offer to be made and parked. */
const SETTLE_MS = 5000;

/** Load average now (the machine is shared: say how busy it was). */
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

interface Person {
  context: BrowserContext;
  /** The person's own Chromium (per-person mode). */
  browserPid?: number;
  /** Their page's renderer processes (shared mode), found when it opens. */
  renderers: number[];
  close(): Promise<void>;
}

/** The one Chromium of the shared mode. */
let shared: { browser: Browser; pid: number } | undefined;
/** Why the bench must stop (the browser went away). */
let fatal: string | undefined;
/** The bench is closing the browsers itself. */
let closing = false;

/** Rejects after `ms` with `message()`; the promise raced is kept from rejecting unhandled. */
function within<T>(promise: Promise<T>, ms: number, message: () => Promise<string>): Promise<T> {
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void message().then((m) => reject(new Error(m))), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function open(person: Person, url: string, name: string, noFpsCap: boolean): Promise<Page> {
  const before = shared ? new Set(rendererPids(shared.pid)) : new Set<number>();
  const page = await person.context.newPage();
  page.setDefaultTimeout(120_000);
  page.on('crash', () => console.log(`  (${name}'s page crashed)`));
  page.on('pageerror', (e) => console.log(`  (${name}'s page: ${e})`));
  if (noFpsCap) await page.addInitScript('window.__noFpsCap = true');
  // The page loads again if the server stumbles (once seen on this shared machine).
  for (let attempt = 1; ; attempt++) {
    const failed = await page.goto(url).then(
      (response) => (response?.ok() ? null : `HTTP ${response?.status()}`),
      (err: Error) => err.message.split('\n')[0]!,
    );
    if (failed === null) break;
    const probe = await fetch(url.split('#')[0]!).then(
      async (r) => `${r.status} ${(await r.text()).slice(0, 80)}`,
      (e: Error) => e.message,
    );
    if (attempt === 3) throw new Error(`${name}'s page did not load: ${failed} (now: ${probe})`);
    console.log(`  (${name}'s page: ${failed}; the server now says ${probe}; loading it again)`);
    await sleep(1000);
  }
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  if (shared) {
    // People open one at a time: the renderers new since this page opened are its own.
    person.renderers = rendererPids(shared.pid).filter((pid) => !before.has(pid));
    if (person.renderers.length === 0)
      throw new Error(`${name}'s page got no renderer process of its own: its CPU cannot be read`);
  }
  return page;
}

const allVideos = (page: Page, n: number) => page.evaluate(`(${ALL_VIDEOS})(${n})`) as Promise<number>;

/**
 * What each page shows now, for a call that did not finish: the remote videos with frames,
 * and the state of each of its connections (connection/ICE/DTLS).
 */
async function seen(pages: Page[]): Promise<string> {
  const views = await Promise.all(
    pages.map((p) =>
      within(
        p.evaluate(`(async () => {
          const videos = [...document.querySelectorAll('.parley-tile[data-source="camera"] video.parley-remote-video')];
          const states = [];
          for (const pc of window.__pcs) {
            if (pc.connectionState === 'closed') continue;
            let dtls = '?';
            (await pc.getStats()).forEach((r) => { if (r.type === 'transport') dtls = r.dtlsState; });
            states.push(pc.connectionState + '/' + pc.iceConnectionState + '/' + dtls);
          }
          return videos.filter((v) => v.videoWidth > 0).length + ' of ' + videos.length + ' videos playing; connections ' + states.join(' ');
        })()`) as Promise<string>,
        5000,
        async () => 'no answer',
      ).catch((e: Error) => e.message.split('\n')[0]),
    ),
  );
  return pages.map((_, i) => `${NAMES[i]}: ${views[i]}`).join('; ');
}

/** TIMELINE=1: the newcomer's marks since Join, also when the call did not finish. */
async function printTimeline(newcomer: Page, size: string, lastFrame?: number): Promise<void> {
  const joinAt = (await newcomer.evaluate('window.__joinAt')) as number;
  const marks = (await newcomer.evaluate('window.__timeline')) as [number, string][];
  console.log(`  timeline of the newcomer at N=${size} (ms after Join):`);
  for (const [t, label] of marks.filter(([t]) => t >= joinAt - 50))
    console.log(`  ${String(t - joinAt).padStart(6)}  ${label}`);
  if (lastFrame) console.log(`  ${String(lastFrame - joinAt).padStart(6)}  last remote video's first frame`);
}

/** The CPU seconds of each person now, and of the common processes (shared mode). */
function cpuNow(people: Person[]): { person: number[]; common: number } {
  if (!shared) return { person: people.map((p) => cpuSecondsOf(processTree(p.browserPid!))), common: 0 };
  const own = new Set(people.flatMap((p) => p.renderers));
  const common = processTree(shared.pid).filter((pid) => !own.has(pid));
  return { person: people.map((p) => cpuSecondsOf(p.renderers)), common: cpuSecondsOf(common) };
}

interface Sample {
  size: string;
  joinToAll: number;
  /** Per person, kbit/s sent (all copies, audio and video). */
  uplinkKbps: number[];
  /** Per person, the uplink budget's caps on their video senders, kbit/s (0: none). */
  capKbps: number[];
  /** Per person, video frames encoded per second (all copies). */
  encodedFps: number[];
  /** Per person, % of one core (own processes plus their share of the common ones). */
  cpuPct: number[];
  /** Shared mode: the common processes, % of one core in all. */
  commonPct: number;
  /** THREADS=1: % of a core per thread name, a person's own renderer (mean of the N) and the common processes. */
  threads?: ThreadCpu;
}

async function call(people: Person[], serverUrl: string, size: string, run: number): Promise<Sample> {
  const n = Number.parseInt(size, 10);
  const noFpsCap = size.endsWith('u');
  const url = formatShareLink(newShareLink(serverUrl));
  const pages: Page[] = [];
  const deadline = Date.now() + CALL_TIMEOUT_MS;
  const step = <T>(what: string, p: Promise<T>) =>
    within(p, Math.max(0, deadline - Date.now()), async () => {
      const why = fatal ?? `not within CALL_TIMEOUT_S=${CALL_TIMEOUT_MS / 1000} s`;
      const message = `N=${size} did not finish (${what}): ${why}; ${await seen(pages)}; load ${loadavg()}`;
      const newcomer = pages.length === n ? pages[n - 1] : undefined;
      if (TIMELINE && newcomer)
        await within(printTimeline(newcomer, size), 5000, async () => '').catch(() => {});
      return message;
    });
  try {
    // The first N − 1 join one at a time, as people do, and settle.
    for (let i = 0; i < n - 1; i++) {
      pages.push(await step(`${NAMES[i]} opening the link`, open(people[i]!, url, NAMES[i]!, noFpsCap)));
      await step(`${NAMES[i]} joining`, Promise.all(pages.map((p) => allVideos(p, i))));
    }
    await sleep(SETTLE_MS);
    const newcomer = await step(
      'the newcomer opening the link',
      open(people[n - 1]!, url, NAMES[n - 1]!, noFpsCap),
    );
    pages.push(newcomer);
    const lastFrame = await step('the newcomer joining', allVideos(newcomer, n - 1));
    const joinAt = (await newcomer.evaluate('window.__joinAt')) as number;
    if (TIMELINE && run === RUNS - 1) await printTimeline(newcomer, size, lastFrame);
    // Everyone sees everyone, then the steady state is measured.
    await step('everyone seeing everyone', Promise.all(pages.map((p) => allVideos(p, n - 1))));
    await sleep(2000);
    const stats = () =>
      step('reading stats', Promise.all(pages.map((p) => p.evaluate(`(${STATS})()`) as Promise<Stats>)));
    const profiler = PROFILE ? await newcomer.context().newCDPSession(newcomer) : undefined;
    if (profiler) {
      await profiler.send('Profiler.enable');
      await profiler.send('Profiler.start');
    }
    const before = await stats();
    const own = people.slice(0, n).map((p) => p.renderers);
    const threadsBefore = THREADS && shared ? threadSnapshot(shared.pid, own) : undefined;
    const cpuBefore = cpuNow(people.slice(0, n));
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const cpuAfter = cpuNow(people.slice(0, n));
    const threadsAfter = threadsBefore && shared ? threadSnapshot(shared.pid, own) : undefined;
    const wall = (performance.now() - t0) / 1000;
    if (profiler) {
      const { profile } = await profiler.send('Profiler.stop');
      await profiler.detach();
      console.log(profileSummary(profile, `N=${size} call ${run + 1}, ${NAMES[n - 1]}'s page`));
    }
    const after = await stats();
    const uplinkKbps = after.map((a, i) =>
      Math.round(((a.sent - before[i]!.sent) * 8) / (a.at - before[i]!.at)),
    );
    const encodedFps = after.map((a, i) =>
      Math.round(((a.encoded - before[i]!.encoded) * 1000) / (a.at - before[i]!.at)),
    );
    const capKbps = after.map((a) => Math.round(a.capBps / 1000));
    const fpsCaps = [...new Set(after.map((a) => a.fpsCap || 'none'))].join('/');
    const commonPct = Math.round(((cpuAfter.common - cpuBefore.common) / wall) * 100);
    const cpuPct = cpuAfter.person.map((c, i) =>
      Math.round(((c - cpuBefore.person[i]!) / wall) * 100 + commonPct / n),
    );
    // Every remote video still decodes on the newcomer's page.
    const nb = before.at(-1)!.decoded;
    const na = after.at(-1)!.decoded;
    if (na.length !== n - 1 || na.some((d, i) => d <= (nb[i] ?? 0)))
      throw new Error(`N=${size}: the newcomer's videos stopped decoding (${nb} → ${na})`);
    const threads =
      threadsBefore && threadsAfter ? threadBreakdown(threadsBefore, threadsAfter, wall) : undefined;
    const sample: Sample = {
      size,
      joinToAll: lastFrame - joinAt,
      uplinkKbps,
      capKbps,
      encodedFps,
      cpuPct,
      commonPct,
      threads,
    };
    console.log(
      `  N=${size} call ${run + 1}: join → all ${n - 1} videos ${sample.joinToAll} ms; uplink per person ${uplinkKbps.join(', ')} kbit/s (video caps ${capKbps.join(', ')}; fps cap ${fpsCaps}; frames encoded/s ${encodedFps.join(', ')}); CPU per person ${cpuPct.join(', ')} % of a core${shared ? ` (of which common ${commonPct} % / ${n})` : ''}; load ${loadavg()}`,
    );
    if (threads) console.log(threadTable([threads], `N=${size} call ${run + 1}`));
    return sample;
  } finally {
    for (const p of pages) await p.close().catch(() => {});
  }
}

async function launchPeople(count: number): Promise<Person[]> {
  const people: Person[] = [];
  if (SHARED) {
    const marker = `--parley-bench-mesh=${randomUUID()}`; // finds the browser's pid
    const browser = await chromium.launch({
      executablePath: chromePath(),
      headless: true,
      // No spare renderer kept warm: each page's renderer appears when the page opens.
      args: ['--headless=new', ...CHROME_FLAGS, '--disable-features=SpareRendererForSitePerProcess', marker],
      ignoreDefaultArgs: ['--mute-audio'],
    });
    shared = { browser, pid: browserPidWith(marker) };
    const pid = shared.pid;
    browser.on('disconnected', () => {
      if (closing) return;
      fatal = `Chromium went away (pid ${pid} ${alive(pid) ? 'still running' : 'exited'})`;
      console.log(`  (${fatal})`);
    });
    for (let i = 0; i < count; i++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.grantPermissions(['camera', 'microphone']);
      people.push({ context, renderers: [], close: () => context.close().catch(() => {}) });
    }
  } else {
    for (let i = 0; i < count; i++) {
      const user = await launchBrowser();
      const browserPid = browserPidWith(`--user-data-dir=${user.userDataDir}`);
      user.context.on('close', () => {
        if (closing) return;
        fatal = `${NAMES[i]}'s Chromium went away (pid ${browserPid} ${alive(browserPid) ? 'still running' : 'exited'})`;
        console.log(`  (${fatal})`);
      });
      people.push({ context: user.context, browserPid, renderers: [], close: () => user.close() });
    }
  }
  for (const p of people) {
    if (TIMELINE) await p.context.addInitScript(TIMELINE_MARKS);
    await p.context.addInitScript(instrument(WIDTH, HEIGHT, CAPTURE_FPS));
  }
  return people;
}

console.log(
  `bench:mesh: N = ${SIZES.join(', ')}, ${RUNS} calls each, ${SHARED ? 'one Chromium with a context per person' : 'one Chromium per person'}, guest pages, fake ${WIDTH}×${HEIGHT} camera at ${CAPTURE_FPS} fps and microphone, loopback; CPU from /proc of ${SHARED ? "each person's renderer plus a 1/N share of the common processes" : "each person's Chromium process tree"}; load ${loadavg()}`,
);
const maxN = Math.max(...SIZES.map((s) => Number.parseInt(s, 10)));
const server = await startServer({ LOG_LEVEL: 'warn' });
let people: Person[] = [];
const failures: string[] = [];
try {
  people = await launchPeople(maxN);
  const samples: Sample[] = [];
  for (let run = 0; run < RUNS && !fatal; run++)
    for (const size of SIZES) {
      if (fatal) break;
      try {
        samples.push(await call(people, server.url, size, run));
      } catch (e) {
        const message = (e as Error).message.split('\n')[0]!;
        failures.push(message);
        console.log(`  N=${size} call ${run + 1} FAILED: ${message}`);
      }
    }

  console.log('');
  const joinToAll: Record<string, number | null> = {};
  const summary = new Map<string, { uplink: number; uplinkMax: number; cap: number; cpu: number }>();
  for (const size of SIZES) {
    if (size in joinToAll) continue;
    const of = samples.filter((s) => s.size === size);
    if (of.length === 0) {
      joinToAll[size] = null;
      console.log(`N=${size}: no call finished`);
      continue;
    }
    joinToAll[size] = median(of.map((s) => s.joinToAll));
    const uplinks = of.flatMap((s) => s.uplinkKbps);
    const s = {
      uplink: median(uplinks),
      uplinkMax: Math.max(...uplinks),
      cap: median(of.flatMap((x) => x.capKbps)),
      cpu: median(of.flatMap((x) => x.cpuPct)),
    };
    summary.set(size, s);
    const withThreads = of.flatMap((x) => (x.threads ? [x.threads] : []));
    if (withThreads.length > 0)
      console.log(threadTable(withThreads, `N=${size}, mean of ${withThreads.length} calls`));
    console.log(
      `N=${size}: join → all videos median ${joinToAll[size]} ms, worst ${Math.max(...of.map((x) => x.joinToAll))} ms (${of.length} calls); uplink per person median ${s.uplink} kbit/s, worst ${s.uplinkMax} kbit/s (video caps ${s.cap || 'none'}${s.cap ? ' kbit/s' : ''}); frames encoded/s per person median ${median(of.flatMap((x) => x.encodedFps))}; CPU per person median ${s.cpu} % of a core${SHARED ? ` (common processes median ${median(of.map((x) => x.commonPct))} % in all)` : ''}`,
    );
  }
  const base = joinToAll['2'];
  const top = joinToAll[String(maxN)];
  if (base && top)
    console.log(
      `ratio join → all videos N=${maxN}/N=2: ${(top / base).toFixed(2)} (goal ≤ 1.5); uplink per person at N=${maxN}: worst ${summary.get(String(maxN))!.uplinkMax} kbit/s (goal ≤ ${UPLINK_BUDGET_KBPS})`,
    );
  const capped = summary.get(String(maxN));
  const uncapped = summary.get(`${maxN}u`);
  if (capped && uncapped)
    console.log(
      `CPU per person at N=${maxN}, frame-rate cap on / off: ${capped.cpu} / ${uncapped.cpu} % of a core (${(capped.cpu / uncapped.cpu).toFixed(2)})`,
    );
  console.log(
    JSON.stringify({
      bench: 'mesh',
      join_to_all_ms: joinToAll,
      uplink_kbps_n6: summary.get('6')?.uplink ?? null,
      cpu_pct_n6: summary.get('6')?.cpu ?? null,
      ...(uncapped ? { cpu_pct_n6_no_fps_cap: summary.get('6u')?.cpu ?? null } : {}),
      browsers: SHARED ? 'shared' : 'per-person',
      capture_fps: CAPTURE_FPS,
    }),
  );
} finally {
  closing = true;
  for (const p of people) await p.close();
  await shared?.browser.close().catch(() => {});
  await server.stop();
}
if (failures.length > 0 || fatal) {
  console.error(`bench:mesh: ${failures.length} call(s) did not finish${fatal ? `; ${fatal}` : ''}:`);
  for (const f of failures) console.error(`  ${f}`);
  process.exit(1);
}
