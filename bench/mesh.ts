/**
 * `npm run bench:mesh`: what a full-mesh group call costs as it grows.
 *
 * For N = 2, 3, 4 and 6 people on one link (guest pages, each person in a Chromium of their
 * own so that each one's CPU can be read; fake camera scaled to 320×180 and fake microphone,
 * real signaling server): N − 1 people join one at a time and settle (everyone sees everyone,
 * then the prepared offers for the next person have their moment), then the newcomer opens
 * the link and presses "Join call".
 *
 * Measured per call:
 *   join → all videos: from the newcomer's click on "Join call" to the first frame of the
 *     LAST of the N − 1 remote camera videos on the newcomer's page (each video's first
 *     presented frame with dimensions, via requestVideoFrameCallback, in the page's clock).
 *   uplink: for each person, the rate of growth of `bytesSent` summed over every outbound RTP
 *     stream of every RTCPeerConnection in the page (audio and video, all N − 1 copies), over
 *     a WINDOW_S-second window once everyone sees everyone; with the caps the uplink budget
 *     put on the video senders (src/call/uplink-budget.ts) summed the same way.
 *   CPU: for each person, user + system CPU time of their whole Chromium process tree
 *     (browser, renderer, GPU, utility and network processes, read from /proc/<pid>/stat)
 *     over the same window, as % of one core.
 *   The newcomer's page also checks that every remote video keeps decoding (framesDecoded of
 *     every inbound video stream grows over the window).
 *
 * N = 2 is the baseline, in the same run; the sizes are interleaved (2, 3, 4, 6, 2, 3, …) so
 * that a slower minute of a shared machine weighs on all of them alike. Prints every call,
 * then medians and the goals (join → all videos at N = 6 ≤ 1.5 × N = 2; uplink per person at
 * N = 6 ≤ 4 Mbit/s), and last one JSON line.
 *
 * RUNS (default 3): calls per size. SIZES (default "2,3,4,6"). WINDOW_S (default 10).
 * VIDEO=720: the fake camera at 1280×720 instead (the uplink budget's caps then bite; heavy).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { UPLINK_BUDGET_KBPS } from '../src/call/uplink-budget.ts';
import { formatShareLink, newShareLink } from '../src/protocol/link.ts';
import { type BrowserUser, launchBrowser } from '../test/e2e/harness.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { median, sleep } from './lib/bench-process.ts';

const RUNS = Number(process.env.RUNS ?? 3);
const SIZES = (process.env.SIZES ?? '2,3,4,6').split(',').map(Number);
const WINDOW_S = Number(process.env.WINDOW_S ?? 10);
const [WIDTH, HEIGHT] = process.env.VIDEO === '720' ? [1280, 720] : [320, 180];
const TIMELINE = process.env.TIMELINE === '1';
const NAMES = ['Ana', 'Bruno', 'Chen', 'Dana', 'Emil', 'Fay'];
/** After the room settled: long enough for the next person's offer to be made and parked. */
const SETTLE_MS = 5000;

/**
 * In every page: the fake camera at WIDTH×HEIGHT; every RTCPeerConnection kept (for getStats);
 * the moment "Join call" is clicked. Strings, not functions: tsx would wrap named inner
 * functions with a helper the page does not have.
 */
const INSTRUMENT = `(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const gum = md.getUserMedia.bind(md);
  md.getUserMedia = (c) => {
    const x = { ...(c || {}) };
    if (x.video) x.video = { ...(typeof x.video === 'object' ? x.video : {}), width: { exact: ${WIDTH} }, height: { exact: ${HEIGHT} } };
    return gum(x);
  };
  const pcs = (window.__pcs = []);
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...a) { super(...a); pcs.push(this); }
  };
  document.addEventListener('click', (e) => {
    const b = e.target instanceof Element ? e.target.closest('button') : null;
    if (b && b.textContent.trim() === 'Join call' && !window.__joinAt) window.__joinAt = Date.now();
  }, true);
})();`;

/**
 * TIMELINE=1: marks in every page ([Date.now(), label]): signaling messages by type and from
 * whom, connections made, descriptions applied, ICE states, and per connection the first inbound video packet, decoded keyframes and keyframe requests (getStats every 20 ms for 15 s); printed for the newcomer of the
 * last call of each size.
 */
const TIMELINE_MARKS = `(() => {
  const L = (window.__timeline = []);
  const mark = (m) => L.push([Date.now(), m]);
  const kind = (s) => {
    const t = /"type":"([a-z-]+)"/.exec(s);
    const k = /"kind":"([a-z-]+)"/.exec(s);
    const d = /"type":"(offer|answer)","sdp"/.exec(s);
    const f = /"(?:from|peerId)":"([^"]{0,6})/.exec(s);
    return (t ? t[1] : '?') + (k ? ' ' + k[1] : '') + (d ? ' ' + d[1] : '') + (f ? ' ' + f[1] : '');
  };
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...a) { super(...a); this.addEventListener('message', (e) => mark('ws ← ' + kind(String(e.data)))); }
    send(d) { mark('ws → ' + kind(String(d))); return super.send(d); }
  };
  const NativePC = window.RTCPeerConnection;
  let count = 0;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...a) {
      super(...a);
      const id = 'pc' + ++count;
      mark(id + ' created');
      this.addEventListener('iceconnectionstatechange', () => mark(id + ' ICE ' + this.iceConnectionState));
      this.addEventListener('track', (e) => e.track.kind === 'video' && mark(id + ' video track'));
      const srd = this.setRemoteDescription.bind(this);
      this.setRemoteDescription = async (d) => { mark(id + ' setRemote(' + (d && d.type) + ')'); const r = await srd(d); mark(id + ' remote ' + (d && d.type) + ' set'); return r; };
      const sld = this.setLocalDescription.bind(this);
      this.setLocalDescription = async (...x) => { const r = await sld(...x); mark(id + ' local ' + this.localDescription.type + ' set'); return r; };
      // The inbound video's first packet, first decoded frame and keyframe requests (PLI/FIR).
      const seen = {};
      const started = Date.now();
      const poll = setInterval(async () => {
        if (Date.now() - started > 15000 || this.connectionState === 'closed') return clearInterval(poll);
        (await this.getStats()).forEach((r) => {
          if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
          const note = (key, value, label) => { if (value > (seen[key] || 0)) { seen[key] = value; mark(id + ' ' + label + ' ' + value); } };
          if (!seen.packets && r.packetsReceived > 0) { seen.packets = 1; mark(id + ' first video packet'); }
          note('keys', r.keyFramesDecoded || 0, 'keyframes decoded');
          note('pli', r.pliCount || 0, 'PLI sent');
          note('fir', r.firCount || 0, 'FIR sent');
          if (!seen.decoded && r.framesDecoded > 0) { seen.decoded = 1; mark(id + ' first frame decoded'); }
        });
      }, 20);
    }
  };
})();`;

/**
 * Resolves with the Date.now() of the first presented frame (with dimensions) of the last of
 * `n` remote camera videos, once there are exactly `n` and each presented one.
 */
const ALL_VIDEOS = `(n) => new Promise((resolve) => {
  const check = () => {
    const videos = [...document.querySelectorAll('.parley-tile[data-source="camera"] video.parley-remote-video')];
    for (const v of videos) {
      if (v.__watched) continue;
      v.__watched = true;
      const onFrame = () => {
        if (v.videoWidth > 0) v.__first = Date.now();
        else v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
    }
    if (videos.length === n && videos.every((v) => v.__first)) return resolve(Math.max(...videos.map((v) => v.__first)));
    setTimeout(check, 10);
  };
  check();
})`;

/** Per page: bytes sent (all outbound RTP), the video caps in force, frames decoded per inbound video. */
const STATS = `async () => {
  let sent = 0; let capBps = 0; let capped = 0; let copies = 0; const decoded = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== 'connected') continue;
    copies++;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'outbound-rtp') sent += s.bytesSent || 0;
      if (s.type === 'inbound-rtp' && s.kind === 'video') decoded.push(s.framesDecoded || 0);
    });
    for (const sender of pc.getSenders()) {
      if (sender.track?.kind !== 'video') continue;
      const e = sender.getParameters().encodings?.[0];
      if (e?.maxBitrate) { capBps += e.maxBitrate; capped++; }
    }
  }
  return { at: performance.now(), sent, capBps, capped, copies, decoded };
}`;

interface Stats {
  at: number;
  sent: number;
  capBps: number;
  capped: number;
  copies: number;
  decoded: number[];
}

/** Pids of a process and all its descendants. */
function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const after = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ');
      parent.set(Number(d), Number(after[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++)
    for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** The Chromium main process of a profile: the one started with its --user-data-dir. */
function browserPid(userDataDir: string): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.includes(`--user-data-dir=${userDataDir}`) && !cmd.some((a) => a.startsWith('--type=')))
        return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`No Chromium process for ${userDataDir}`);
}

/** CPU seconds (user + system, USER_HZ = 100) of every process in a tree now. */
function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / 100;
}

/** Load average now (the machine is shared: say how busy it was). */
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

interface Person {
  user: BrowserUser;
  pid: number;
}

async function open(person: Person, url: string, name: string): Promise<Page> {
  const page = await person.user.context.newPage();
  page.setDefaultTimeout(120_000);
  page.on('crash', () => console.log(`  (${name}'s page crashed)`));
  page.on('pageerror', (e) => console.log(`  (${name}'s page: ${e})`));
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
  return page;
}

const allVideos = (page: Page, n: number) => page.evaluate(`(${ALL_VIDEOS})(${n})`) as Promise<number>;

interface Sample {
  n: number;
  joinToAll: number;
  /** Per person, kbit/s sent (all copies, audio and video). */
  uplinkKbps: number[];
  /** Per person, the uplink budget's caps on their video senders, kbit/s (0: none). */
  capKbps: number[];
  /** Per person, % of one core. */
  cpuPct: number[];
}

async function call(people: Person[], serverUrl: string, n: number, run: number): Promise<Sample> {
  const url = formatShareLink(newShareLink(serverUrl));
  const pages: Page[] = [];
  try {
    // The first N − 1 join one at a time, as people do, and settle.
    for (let i = 0; i < n - 1; i++) {
      pages.push(await open(people[i]!, url, NAMES[i]!));
      await Promise.all(pages.map((p) => allVideos(p, i)));
    }
    await sleep(SETTLE_MS);
    const newcomer = await open(people[n - 1]!, url, NAMES[n - 1]!);
    pages.push(newcomer);
    const lastFrame = await allVideos(newcomer, n - 1);
    const joinAt = (await newcomer.evaluate('window.__joinAt')) as number;
    if (TIMELINE && run === RUNS - 1) {
      const marks = (await newcomer.evaluate('window.__timeline')) as [number, string][];
      console.log(`  timeline of the newcomer at N=${n} (ms after Join):`);
      for (const [t, label] of marks.filter(([t]) => t >= joinAt - 50))
        console.log(`  ${String(t - joinAt).padStart(6)}  ${label}`);
      console.log(`  ${String(lastFrame - joinAt).padStart(6)}  last remote video's first frame`);
    }
    // Everyone sees everyone, then the steady state is measured.
    await Promise.all(pages.map((p) => allVideos(p, n - 1)));
    await sleep(2000);
    const before = await Promise.all(pages.map((p) => p.evaluate(`(${STATS})()`) as Promise<Stats>));
    const cpuBefore = people.slice(0, n).map((p) => treeCpuSeconds(p.pid));
    const t0 = performance.now();
    await sleep(WINDOW_S * 1000);
    const cpuAfter = people.slice(0, n).map((p) => treeCpuSeconds(p.pid));
    const wall = (performance.now() - t0) / 1000;
    const after = await Promise.all(pages.map((p) => p.evaluate(`(${STATS})()`) as Promise<Stats>));
    const uplinkKbps = after.map((a, i) => {
      const b = before[i]!;
      return Math.round(((a.sent - b.sent) * 8) / (a.at - b.at));
    });
    const capKbps = after.map((a) => Math.round(a.capBps / 1000));
    const cpuPct = cpuAfter.map((c, i) => Math.round(((c - cpuBefore[i]!) / wall) * 100));
    // Every remote video still decodes on the newcomer's page.
    const nb = before.at(-1)!.decoded;
    const na = after.at(-1)!.decoded;
    if (na.length !== n - 1 || na.some((d, i) => d <= (nb[i] ?? 0)))
      throw new Error(`N=${n}: the newcomer's videos stopped decoding (${nb} → ${na})`);
    const sample = { n, joinToAll: lastFrame - joinAt, uplinkKbps, capKbps, cpuPct };
    console.log(
      `  N=${n} call ${run + 1}: join → all ${n - 1} videos ${sample.joinToAll} ms; uplink per person ${uplinkKbps.join(', ')} kbit/s (video caps ${capKbps.join(', ')}); CPU ${cpuPct.join(', ')} % of a core; load ${loadavg()}`,
    );
    return sample;
  } finally {
    for (const p of pages) await p.close().catch(() => {});
  }
}

console.log(
  `bench:mesh: N = ${SIZES.join(', ')}, ${RUNS} calls each, one Chromium per person, guest pages, fake ${WIDTH}×${HEIGHT} camera and microphone, loopback; CPU from /proc of each person's Chromium process tree`,
);
const maxN = Math.max(...SIZES);
const server = await startServer({ LOG_LEVEL: 'warn' });
const people: Person[] = [];
try {
  for (let i = 0; i < maxN; i++) {
    const user = await launchBrowser();
    if (TIMELINE) await user.context.addInitScript(TIMELINE_MARKS);
    await user.context.addInitScript(INSTRUMENT);
    people.push({ user, pid: browserPid(user.userDataDir) });
  }
  const samples: Sample[] = [];
  for (let run = 0; run < RUNS; run++)
    for (const n of SIZES) samples.push(await call(people, server.url, n, run));

  console.log('');
  const joinToAll: Record<string, number> = {};
  const summary = new Map<number, { uplink: number; uplinkMax: number; cap: number; cpu: number }>();
  for (const n of SIZES) {
    const of = samples.filter((s) => s.n === n);
    joinToAll[n] = median(of.map((s) => s.joinToAll));
    const uplinks = of.flatMap((s) => s.uplinkKbps);
    const cpus = of.flatMap((s) => s.cpuPct);
    const s = {
      uplink: median(uplinks),
      uplinkMax: Math.max(...uplinks),
      cap: median(of.flatMap((x) => x.capKbps)),
      cpu: median(cpus),
    };
    summary.set(n, s);
    console.log(
      `N=${n}: join → all videos median ${joinToAll[n]} ms, worst ${Math.max(...of.map((x) => x.joinToAll))} ms; uplink per person median ${s.uplink} kbit/s, worst ${s.uplinkMax} kbit/s (video caps ${s.cap || 'none'}${s.cap ? ' kbit/s' : ''}); CPU per person median ${s.cpu} % of a core`,
    );
  }
  const base = joinToAll[2];
  const top = joinToAll[maxN];
  if (base !== undefined && top !== undefined)
    console.log(
      `ratio join → all videos N=${maxN}/N=2: ${(top / base).toFixed(2)} (goal ≤ 1.5); uplink per person at N=${maxN}: worst ${summary.get(maxN)!.uplinkMax} kbit/s (goal ≤ ${UPLINK_BUDGET_KBPS})`,
    );
  console.log(
    JSON.stringify({
      bench: 'mesh',
      join_to_all_ms: joinToAll,
      uplink_kbps_n6: summary.get(6)?.uplink ?? null,
      cpu_pct_n6: summary.get(6)?.cpu ?? null,
    }),
  );
} finally {
  for (const p of people) await p.user.close();
  await server.stop();
}
