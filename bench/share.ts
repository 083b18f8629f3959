/**
 * `npm run bench:share`: how long a share takes to reach the other side, Parley against what
 * the browser itself needs; and what recording costs the recorder.
 *
 * Share → first frame: Ana and Bo in a call on the guest page (two Chromium profiles, fake
 * camera, microphone and screen); in Ana's page, **Share screen** is clicked; the time until
 * Bo's page presents the first frame of "Ana's screen" (requestVideoFrameCallback, the clocks
 * of one machine). Then **Stop sharing**, until the tile is gone on Bo's side. SHARES times,
 * alternating with the baseline in the same two browsers: two plain pages in a call over a bare
 * relay doing getDisplayMedia + addTrack + renegotiation (bench/lib/bare-share.ts).
 *
 * Recorder: in the same Parley call, Ana records (Bo allows) for RECORD_S seconds. Growth is
 * the proportional set size (Pss, /proc/<pid>/smaps_rollup) of all of Ana's Chromium processes (the browser process,
 * where Blob data lives, the renderer, GPU and utility processes) at the end minus at the start
 * of the recording, each after a garbage collection of her page. CPU is the CPU time of the
 * same processes while recording minus while in the same call not recording (CALM_S seconds
 * before), in percent of one core. The growth is also printed per process type and every 10 s;
 * MEMDUMP=1 adds Chromium's memory-infra account of it per allocator (after the measures).
 *
 * Last line: {"bench":"share","ours_share_to_frame_ms":…,"bare_share_to_frame_ms":…,
 * "recorder_growth_mib_60s":…,"recorder_cpu_pct":…}
 */

import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { formatShareLink, newShareLink } from '../src/protocol/link.ts';
import { type BrowserUser, launchBrowser } from '../test/e2e/harness.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { startBareCallServer } from './lib/bare-call.ts';
import { BARE_SHARE_PAGE } from './lib/bare-share.ts';
import { cpuSeconds, median, sleep } from './lib/bench-process.ts';
import { growthLines, memoryDump } from './lib/memory-dump.ts';
import { profileProcesses } from './lib/transfer-memory.ts';

const SHARES = Number(process.env.SHARES ?? 10);
const RECORD_S = Number(process.env.RECORD_S ?? 60);
const CALM_S = Number(process.env.CALM_S ?? 20);
const MIB = 1024 * 1024;
const TIMELINE = process.env.TIMELINE === '1' || process.env.TIMELINE === 'all';
const TIMELINE_ALL = process.env.TIMELINE === 'all';
const MEMDUMP = process.env.MEMDUMP === '1';

/**
 * TIMELINE=1: marks [Date.now(), label] in every page (A Ana's, B Bo's), printed for the last
 * share of each kind: WebSocket messages, descriptions (with the stream ids their m-sections
 * send, a=msid), tracks arriving and unmuting, Bo's screen element's events and first frame.
 * TIMELINE=all: for every share, and Bo's video receivers' frames received/decoded too
 * (getStats polled for 3 s).
 */
const TIMELINE_MARKS = `(() => {
  const L = (window.__timeline = []);
  const who = window.name || '?';
  const mark = (m) => L.push([Date.now(), (window.__who || '?') + ' ' + m]);
  // The sending m-sections' stream ids (a=msid), shortened: which stream each offer labels.
  const msids = (sdp) => { const ids = [...sdp.matchAll(/^a=msid:(\\S+) /gm)].map((m) => m[1].slice(0, 6)); return ids.length ? ' msid ' + ids.join(',') : ''; };
  const kind = (s) => { const t = /"(?:type|t)":"([a-z-]+)"/.exec(s); return (t ? t[1] : '?') + (s.includes('"offer"') ? ' (offer)' : s.includes('"answer"') ? ' (answer)' : ''); };
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...a) { super(...a); this.addEventListener('message', (e) => mark('ws ← ' + kind(String(e.data)))); }
    send(d) { mark('ws → ' + kind(String(d))); return super.send(d); }
  };
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...a) {
      super(...a);
      (window.__pcs ||= []).push(this);
      this.addEventListener('negotiationneeded', () => mark('negotiationneeded'));
      this.addEventListener('track', (e) => { mark('track ' + e.track.kind); e.track.addEventListener('unmute', () => mark('unmute ' + e.track.kind)); });
      this.addEventListener('datachannel', (e) => e.channel.addEventListener('message', (m) => typeof m.data === 'string' && mark('dc ← ' + kind(m.data))));
    }
    async setLocalDescription(...a) { mark('setLocalDescription'); const r = await super.setLocalDescription(...a); mark('local ' + this.localDescription.type + ' set' + msids(this.localDescription.sdp)); return r; }
    async setRemoteDescription(d) { mark('setRemoteDescription(' + d.type + ')'); const r = await super.setRemoteDescription(d); mark('remote ' + d.type + ' set'); return r; }
  };
  // For ms: marks the first changes of every video receiver's frames received / decoded.
  window.__watch = (ms) => {
    const last = new Map();
    const end = Date.now() + ms;
    const poll = async () => {
      for (const pc of window.__pcs || []) {
        if (pc.connectionState === 'closed') continue;
        for (const r of (await pc.getStats()).values()) {
          if (r.kind !== 'video' || r.type !== 'inbound-rtp') continue;
          const key = r.mid;
          const now = r.framesReceived + '/' + r.framesDecoded;
          const prev = last.get(key);
          if (prev && prev.now !== now && prev.n < 4) mark('rtp in mid ' + key + ' recv/dec ' + now + ' key ' + r.keyFramesDecoded + ' pli ' + r.pliCount);
          last.set(key, { now, n: prev ? prev.n + (prev.now !== now ? 1 : 0) : 0 });
        }
      }
      if (Date.now() < end) setTimeout(poll, 15);
    };
    poll();
  };
  const gdm = navigator.mediaDevices.getDisplayMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getDisplayMedia = async (o) => { mark('getDisplayMedia called'); const r = await gdm(o); mark('getDisplayMedia resolved'); return r; };
})();`;

async function timeline(pages: Page[], from: number, title: string): Promise<void> {
  if (!TIMELINE) return;
  const all: [number, string][] = [];
  for (const p of pages) all.push(...((await p.evaluate('window.__timeline || []')) as [number, string][]));
  console.log(`  timeline of ${title} (ms after the click):`);
  for (const [t, label] of all.filter(([t]) => t >= from).sort((x, y) => x[0] - y[0]))
    console.log(`  ${String(t - from).padStart(6)}  ${label}`);
}

/** Polls `fn` in the page until it returns a truthy value (or `timeoutMs`). */
async function until<T>(page: Page, fn: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = (await page.evaluate(fn)) as T;
    if (value) return value;
    await sleep(20);
  }
  throw new Error(`Timed out waiting for ${fn}`);
}

/**
 * In Bo's page: resolves with Date.now() at the first presented frame of a screen tile that
 * appears after this call. A string: tsx's helpers do not exist in the page.
 */
const NEXT_SCREEN_FRAME = `new Promise((resolve) => {
  const check = () => {
    const video = document.querySelector('.parley-tile[data-source="screen"] video');
    if (!video || !video.srcObject) return void setTimeout(check, 5);
    window.__timeline?.push([Date.now(), 'B screen tile has its stream']);
    if (window.__timeline)
      for (const e of ['play', 'loadedmetadata', 'loadeddata', 'canplay', 'playing', 'resize', 'waiting', 'stalled'])
        video.addEventListener(e, () => window.__timeline.push([Date.now(), 'B screen video ' + e + ' rs ' + video.readyState + ' paused ' + video.paused]), { once: true });
    const onFrame = () => {
      if (video.videoWidth === 0) return void video.requestVideoFrameCallback(onFrame);
      window.__timeline?.push([Date.now(), 'B screen tile: first frame']);
      resolve(Date.now());
    };
    video.requestVideoFrameCallback(onFrame);
  };
  check();
})`;

/** In Ana's page: Date.now(), then a click on the button named `name` (as a person's click). */
const clickAt = (name: string) => `(() => {
  const button = [...document.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === ${JSON.stringify(name)} || b.textContent.trim() === ${JSON.stringify(name)});
  if (!button) throw new Error('no button ' + ${JSON.stringify(name)});
  const t0 = Date.now();
  button.click();
  return t0;
})()`;

/**
 * Bring these pages to the front of their browsers. Both kinds of pages share the two browsers,
 * and a tab that is not its browser's front one presents video frames late: headless Chromium
 * says it is 'visible', it decodes the frames and its <video> is 'playing', but its first
 * requestVideoFrameCallback comes 300-1000 ms after the first packets (a page alone reproduces
 * it). Left as it was (the bare pages, opened last, in front), every Parley share paid that and
 * the bare ones did not.
 */
async function frontPages(...pages: Page[]): Promise<void> {
  for (const page of pages) await page.bringToFront();
}

async function joinGuest(user: BrowserUser, url: string, name: string): Promise<Page> {
  const page = await user.context.newPage();
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  return page;
}

async function gc(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.detach();
  await sleep(500);
}

/**
 * Proportional set size (smaps_rollup) of these processes: each shared page counted once
 * across them, so memory several processes map (the GPU's, shared buffers) is not counted twice.
 */
async function pssBytes(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
      total += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {}
  }
  return total;
}

/** Pss per process type (browser, renderer, gpu-process, utility…), for the breakdown line. */
async function pssByType(pids: number[]): Promise<Map<string, number>> {
  const byType = new Map<string, number>();
  for (const pid of pids) {
    try {
      const [rollup, cmdline] = await Promise.all([
        readFile(`/proc/${pid}/smaps_rollup`, 'utf8'),
        readFile(`/proc/${pid}/cmdline`, 'utf8'),
      ]);
      const type = /--type=([a-z-]+)/.exec(cmdline)?.[1] ?? 'browser';
      const sub = /--utility-sub-type=([\w.]+)/.exec(cmdline)?.[1];
      const key = sub ? `${type}:${sub.split('.').at(-1)}` : type;
      byType.set(key, (byType.get(key) ?? 0) + Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024);
    } catch {}
  }
  return byType;
}

function cpuOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSeconds(pid);
    } catch {}
  }
  return total;
}

console.log(
  `bench:share: ${SHARES} shares each (Parley guest pages and bare pages alternating), then ${RECORD_S} s of recording; two Chromium profiles on loopback, fake camera, microphone and screen`,
);
const server = await startServer({ LOG_LEVEL: 'warn' });
const relay = await startBareCallServer(BARE_SHARE_PAGE);
const ana = await launchBrowser();
const bo = await launchBrowser();
if (TIMELINE) {
  await ana.context.addInitScript('window.__who = "A"');
  await bo.context.addInitScript('window.__who = "B"');
  for (const user of [ana, bo]) await user.context.addInitScript(TIMELINE_MARKS);
}
const ours: number[] = [];
const bare: number[] = [];
let growthMiB = 0;
let recorderCpu = 0;
try {
  // Parley: Ana and Bo in a call.
  const url = formatShareLink(newShareLink(server.url));
  const anaPage = await joinGuest(ana, url, 'Ana');
  await anaPage.getByText('Waiting for someone to join').waitFor({ timeout: 60_000 });
  const boPage = await joinGuest(bo, url, 'Bo');
  await boPage.getByRole('group', { name: 'Ana' }).waitFor({ timeout: 60_000 });
  await anaPage.getByRole('button', { name: 'Record', exact: true }).waitFor({ timeout: 60_000 });
  // Baseline: two bare pages in a call of their own.
  const room = `share-${Date.now()}`;
  const a = await ana.context.newPage();
  await a.goto(`${relay.url}/?room=${room}`);
  const b = await bo.context.newPage();
  await b.goto(`${relay.url}/?room=${room}`);
  await until(b, 'window.__marks && window.__marks.connected');
  await until(a, 'window.__marks && window.__marks.connected');

  for (let i = 0; i < SHARES; i++) {
    // Bare: getDisplayMedia + addTrack + renegotiation → first frame on the other page.
    await b.evaluate('window.__marks.screenFrame = 0; window.__marks.screenGone = 0');
    if (TIMELINE_ALL) await b.evaluate('window.__watch(3000)');
    // Each browser's measured page in front (see frontPages).
    await frontPages(a, b);
    const bareStart = (await a.evaluate('window.__share()')) as number;
    const bareFrame = await until<number>(b, 'window.__marks.screenFrame');
    bare.push(bareFrame - bareStart);
    if (i === SHARES - 1 || TIMELINE_ALL) await timeline([a, b], bareStart, `bare share ${i + 1}`);
    await a.evaluate('window.__stop()');
    await until(b, 'window.__marks.screenGone');

    // Parley: Share screen → first frame of "Ana's screen" on Bo's side.
    if (TIMELINE_ALL) await boPage.evaluate('window.__watch(3000)');
    await frontPages(anaPage, boPage);
    const frame = boPage.evaluate(NEXT_SCREEN_FRAME) as Promise<number>;
    const start = (await anaPage.evaluate(clickAt('Share screen'))) as number;
    ours.push((await frame) - start);
    if (i === SHARES - 1 || TIMELINE_ALL) await timeline([anaPage, boPage], start, `Parley share ${i + 1}`);
    await anaPage.evaluate(clickAt('Stop sharing'));
    await boPage.getByRole('group', { name: "Ana's screen" }).waitFor({ state: 'detached', timeout: 60_000 });
    await anaPage.getByRole('button', { name: 'Share screen' }).waitFor({ timeout: 60_000 });
    console.log(`  share ${i + 1}: parley ${ours.at(-1)} ms, bare ${bare.at(-1)} ms`);
  }
  await a.close();
  await b.close();

  // The recorder: CPU in the call without and with recording, memory growth while recording.
  const processes = () => profileProcesses(ana.userDataDir).all;
  await sleep(2000);
  await gc(anaPage);
  let pids = processes();
  const calm0 = await pssBytes(pids);
  const calmCpu0 = cpuOf(pids);
  const calmT0 = Date.now();
  await sleep(CALM_S * 1000);
  const calmPct = ((cpuOf(pids) - calmCpu0) / ((Date.now() - calmT0) / 1000)) * 100;
  await gc(anaPage);
  const calmGrowth = (await pssBytes(processes())) - calm0;

  // Ana looks at her call while she records (her tab in front: see docs/performance.md).
  await anaPage.bringToFront();
  console.log(`  Ana's page is ${await anaPage.evaluate('document.visibilityState')}`);
  await anaPage.evaluate(clickAt('Record'));
  await boPage
    .getByRole('alertdialog', { name: 'Recording request' })
    .getByRole('button', { name: 'Allow' })
    .click();
  await anaPage.locator('.parley-recording', { hasText: 'Recording · you' }).waitFor({ timeout: 60_000 });
  await sleep(2000); // the recorder and its file started
  await gc(anaPage);
  pids = processes();
  const types0 = await pssByType(pids);
  const rss0 = await pssBytes(pids);
  // MEMDUMP=1: Chromium's own account too (a tracing service starts: measured figures above first).
  const dump0 = MEMDUMP ? await memoryDump(anaPage) : null;
  const recCpu0 = cpuOf(pids);
  const recT0 = Date.now();
  let peak = rss0;
  const series: string[] = [];
  let nextMark = 10;
  while (Date.now() - recT0 < RECORD_S * 1000) {
    await sleep(1000);
    const now = await pssBytes(processes());
    peak = Math.max(peak, now);
    const s = Math.round((Date.now() - recT0) / 1000);
    if (s >= nextMark) {
      series.push(`${s} s +${((now - rss0) / MIB).toFixed(0)}`);
      nextMark += 10;
    }
  }
  const recPct = ((cpuOf(pids) - recCpu0) / ((Date.now() - recT0) / 1000)) * 100;
  await gc(anaPage);
  const rss1 = await pssBytes(processes());
  growthMiB = (rss1 - rss0) / MIB;
  const types1 = await pssByType(processes());
  const byType = [...new Set([...types0.keys(), ...types1.keys()])]
    .map((k) => `${k} ${(((types1.get(k) ?? 0) - (types0.get(k) ?? 0)) / MIB).toFixed(1)}`)
    .join(', ');
  console.log(`  recorder growth by process (MiB): ${byType}`);
  console.log(`  recorder growth over time (MiB, no GC between): ${series.join(', ')}`);
  if (dump0) {
    for (const [pid, after] of await memoryDump(anaPage)) {
      const lines = growthLines(dump0.get(pid) ?? new Map(), after);
      if (lines.length)
        console.log(`  recorder growth in process ${pid} by allocator (MiB): ${lines.join(', ')}`);
    }
  }
  recorderCpu = recPct - calmPct;
  await anaPage.evaluate(clickAt('Stop recording'));
  // Saved, or failed with the panel's sentence (a failed recording says why instead of a timeout).
  const card = anaPage.locator('.parley-rec-file:is([data-state="done"], [data-state="failed"])');
  await card.waitFor({ timeout: 60_000 });
  const size = await card.locator('.parley-file-status').textContent();
  if ((await card.getAttribute('data-state')) === 'failed') throw new Error(`The recording failed: ${size}`);
  console.log(
    `  recorder: ${RECORD_S} s recorded (${size}); Ana's processes ${(rss0 / MIB).toFixed(0)} → ${(rss1 / MIB).toFixed(0)} MiB (peak ${(peak / MIB).toFixed(0)} MiB; in the call without recording ${(calmGrowth / MIB).toFixed(1)} MiB over ${CALM_S} s); CPU ${calmPct.toFixed(1)} % of a core in the call, ${recPct.toFixed(1)} % while recording`,
  );
} finally {
  await Promise.all([ana.close(), bo.close()]);
  await relay.close();
  await server.stop();
}

const o = median(ours);
const b = median(bare);
console.log('');
console.log(
  `share → first frame: parley median ${o} ms (worst ${Math.max(...ours)}), bare median ${b} ms (worst ${Math.max(...bare)})`,
);
console.log(`ratio parley/bare ${(o / b).toFixed(2)} (goal ≤ 1.2)`);
console.log(
  `recorder: memory growth ${growthMiB.toFixed(1)} MiB over ${RECORD_S} s (goal ≤ 32), CPU ${recorderCpu.toFixed(1)} % of one core`,
);
console.log(
  JSON.stringify({
    bench: 'share',
    ours_share_to_frame_ms: o,
    bare_share_to_frame_ms: b,
    recorder_growth_mib_60s: Number(((growthMiB * 60) / RECORD_S).toFixed(1)),
    recorder_cpu_pct: Number(recorderCpu.toFixed(1)),
  }),
);
