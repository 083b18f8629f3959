/**
 * `npm run bench:call`: how long a person waits for a call, Parley against what the browser
 * itself needs.
 *
 * Parley: Ana (Chromium with the e2e build of the extension) starts a call from the real
 * popup on an ordinary page; Bo (a second profile, no extension) opens the link as a guest
 * and presses "Join call". Baseline, same flags, same machine, same run: two plain pages doing
 * getUserMedia + RTCPeerConnection over a bare `ws` relay (bench/lib/bare-call.ts).
 *
 * Measured per call:
 *   link → video: from Bo opening the link to remote video playing on BOTH sides (first
 *     rendered frame with dimensions, via requestVideoFrameCallback, in each page).
 *   join → connected: from Bo's join message leaving his page to ICE `connected` on his side.
 * Prints the median and worst of CALLS calls each, the ratios, and last one JSON line.
 *
 * TIMELINE=1 also prints, for the last call of each kind, where the time went: one merged
 * timeline of Bo's page (B), Ana's overlay or page (A) and Ana's service worker (S) — page
 * load, getUserMedia, WebSocket and runtime-port messages, descriptions, ICE and first frames.
 * PROFILE=1 traces Bo's page in the last Parley call and prints what its main thread did from
 * his join to ICE connected (PROFILE_TASKS=1: every task over 1 ms; PROFILE_FROM=dcl: from
 * DOMContentLoaded). JOIN_AFTER_PREVIEW=1: Bo joins once his camera preview shows.
 * bench/ab-call.sh compares the working tree with a git ref, alternating runs.
 *
 * `--firefox` measures instead calls with Firefox on one side (Debian's firefox-esr over
 * WebDriver BiDi, as in test/e2e/firefox-harness.ts): Ana opens a share link in Firefox's
 * guest page, or starts the call from the Firefox extension's popup (FIREFOX_SIDES, default
 * guest,extension), and waits in the room; Bo opens the link in Chromium and joins; link →
 * video as above (both sides showing the other's video), join → connected on Bo's side.
 * Baseline in the same run, calls alternated: the same with Ana's guest page or extension
 * overlay in Chromium (bench/lib/firefox-call.ts).
 */
import type { CDPSession, Frame, Page } from 'playwright-core';
import { launchBrowser, ORDINARY_PAGE, startPageServer } from '../test/e2e/harness.ts';
import { launchExtensionUser, overlayFrame, startCallFromPopup } from '../test/e2e/popup-driver.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { startBareCallServer } from './lib/bare-call.ts';
import { firefoxGuestBench } from './lib/firefox-call.ts';

const CALLS = Number(process.env.CALLS ?? 10);
const TIMELINE = process.env.TIMELINE === '1';
const PROFILE = process.env.PROFILE === '1';

/**
 * For TIMELINE=1: what a signaling message is, from its text: its type, whether it carries a
 * description (and candidates in it), and a candidate's transport, address and type.
 */
const MESSAGE_KIND = `(s) => {
  const t = /"type":"([a-z-]+)"/.exec(s);
  const c = /candidate:\\S+ \\d (\\w+) \\d+ (\\S+) (\\d+) typ (\\w+)/.exec(s);
  const description = s.includes('"description"') ? ' (description' + (s.includes('a=candidate') ? ', with candidates' : '') + ')' : '';
  return (t ? t[1] : '?') + description + (c ? ' (candidate ' + c[1] + ' ' + c[2] + ':' + c[3] + ' ' + c[4] + ')' : '');
}`;

/** Marks for TIMELINE=1, in every page and frame of both profiles: [Date.now(), label]. */
const TIMELINE_MARKS = `(() => {
  const L = (window.__timeline = window.__timeline || []);
  const who = window.__benchWho || (location.protocol === 'chrome-extension:' ? 'A' : 'B');
  const mark = (m) => L.push([Date.now(), who + ' ' + m]);
  const kind = ${MESSAGE_KIND};
  mark('document starts ' + location.pathname.slice(0, 12));
  document.addEventListener('DOMContentLoaded', () => mark('DOMContentLoaded'));
  if (navigator.mediaDevices) {
    const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = async (c) => { mark('getUserMedia called'); const r = await gum(c); mark('getUserMedia resolved'); return r; };
  }
  const NativeWS = window.WebSocket;
  if (NativeWS) window.WebSocket = class extends NativeWS {
    constructor(...a) { super(...a); mark('WebSocket created'); this.addEventListener('open', () => mark('WebSocket open')); this.addEventListener('message', (e) => mark('ws ← ' + kind(String(e.data)))); }
    send(d) { mark('ws → ' + kind(String(d))); return super.send(d); }
  };
  if (window.chrome && chrome.runtime && chrome.runtime.connect) {
    const connect = chrome.runtime.connect.bind(chrome.runtime);
    chrome.runtime.connect = (...a) => {
      const p = connect(...a);
      const post = p.postMessage.bind(p);
      p.postMessage = (m) => { mark('port → ' + kind(JSON.stringify(m))); return post(m); };
      p.onMessage.addListener((m) => mark('port ← ' + kind(JSON.stringify(m))));
      return p;
    };
  }
  const NativePC = window.RTCPeerConnection;
  if (!NativePC) return;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...a) {
      super(...a); mark('RTCPeerConnection created');
      this.addEventListener('icecandidate', (e) => { if (e.candidate && !this.__c) { this.__c = 1; mark('first ICE candidate'); } });
      this.addEventListener('iceconnectionstatechange', () => mark('ICE ' + this.iceConnectionState));
      this.addEventListener('connectionstatechange', () => mark('connection ' + this.connectionState));
      this.addEventListener('track', (e) => e.track.addEventListener('unmute', () => mark('first ' + e.track.kind + ' packets')));
    }
    async setLocalDescription(...a) { mark('setLocalDescription'); const r = await super.setLocalDescription(...a); mark('local ' + this.localDescription.type + ' set'); return r; }
    async setRemoteDescription(d) { mark('setRemoteDescription(' + d.type + ')'); const r = await super.setRemoteDescription(d); mark('remote ' + d.type + ' set'); return r; }
  };
})();`;

/** The same for Ana's service worker (S), installed through its DevTools target. */
const WORKER_MARKS = `(() => {
  const L = (self.__timeline = []);
  const kind = ${MESSAGE_KIND};
  const NativeWS = self.WebSocket;
  self.WebSocket = class extends NativeWS {
    constructor(...a) { super(...a); this.addEventListener('message', (e) => L.push([Date.now(), 'S ws ← ' + kind(String(e.data))])); }
    send(d) { L.push([Date.now(), 'S ws → ' + kind(String(d))]); return super.send(d); }
  };
})();`;

/** Installed in every page of the measured profiles: when Bo joined, when ICE connected. */
const INSTRUMENT = `(() => {
  const marks = (window.__benchMarks = window.__benchMarks || {});
  document.addEventListener('DOMContentLoaded', () => performance.mark('parley-dcl'));
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (!marks.join && typeof data === 'string' && (data.includes('"type":"join"') || data.includes('"hello"'))) { marks.join = Date.now(); performance.mark('parley-join'); }
    return send.call(this, data);
  };
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('iceconnectionstatechange', () => {
        if ((this.iceConnectionState === 'connected' || this.iceConnectionState === 'completed') && !marks.connected) { marks.connected = Date.now(); performance.mark('parley-connected'); }
      });
    }
  };
})();`;

/**
 * Clicks "Join call" on the guest page as soon as it appears, or with JOIN_AFTER_PREVIEW=1
 * once the camera preview shows (as the baseline, whose page joins after getUserMedia).
 */
const AUTO_JOIN = `(() => {
  const afterPreview = ${process.env.JOIN_AFTER_PREVIEW === '1'};
  const tryClick = () => {
    const b = [...document.querySelectorAll('button')].find((x) => x.textContent.trim() === 'Join call');
    const preview = document.querySelector('.guest-preview');
    if (afterPreview && b && !(preview && preview.videoWidth > 0)) return void setTimeout(tryClick, 5);
    if (b) { b.click(); observer.disconnect(); }
  };
  const observer = new MutationObserver(tryClick);
  document.addEventListener('DOMContentLoaded', () => { observer.observe(document.body, { childList: true, subtree: true }); tryClick(); });
})();`;

/**
 * Resolves with Date.now() at the first rendered remote frame with dimensions. A string, not
 * a function: tsx would wrap named inner functions with a helper the page does not have.
 */
const FIRST_FRAME = `(sel) => new Promise((resolve) => {
  const check = () => {
    const video = document.querySelector(sel);
    // Shown, not only decoding: a video in a hidden part of the page does not count.
    if (!video || !video.srcObject || !video.checkVisibility()) return void setTimeout(check, 5);
    if (video.videoWidth > 0 && video.readyState >= 2) return resolve(Date.now());
    const onFrame = () => (video.videoWidth > 0 ? resolve(Date.now()) : video.requestVideoFrameCallback(onFrame));
    video.requestVideoFrameCallback(onFrame);
  };
  check();
})`;

function firstRemoteFrame(target: Page | Frame, selector: string): Promise<number> {
  return target.evaluate(`(${FIRST_FRAME})(${JSON.stringify(selector)})`) as Promise<number>;
}

async function marks(page: Page): Promise<{ join?: number; connected?: number }> {
  for (let i = 0; i < 200; i++) {
    const m = await page.evaluate(
      () => (window as unknown as { __benchMarks: { join?: number; connected?: number } }).__benchMarks,
    );
    if (m.join && m.connected) return m;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('No ICE connection on the joining side');
}

/**
 * PROFILE=1: a Chrome trace of Bo's page for the last Parley call, summarised as where his
 * main thread spent the time between his join and ICE connected (the window join → connected
 * measures), by trace event, self time.
 */
async function startProfile(page: Page): Promise<{ cdp: CDPSession; events: TraceEvent[] }> {
  const cdp = await page.context().newCDPSession(page);
  const events: TraceEvent[] = [];
  cdp.on('Tracing.dataCollected', (e) => void events.push(...(e.value as unknown as TraceEvent[])));
  await cdp.send('Tracing.start', {
    transferMode: 'ReportEvents',
    traceConfig: {
      includedCategories: [
        'devtools.timeline',
        'disabled-by-default-devtools.timeline',
        'blink.user_timing',
        'v8.execute',
        'v8',
        'webrtc',
        'loading',
      ],
    },
  });
  return { cdp, events };
}

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: { data?: { url?: string; functionName?: string } };
}

async function printProfile({ cdp, events }: { cdp: CDPSession; events: TraceEvent[] }): Promise<void> {
  const done = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.end');
  await done;
  const join = events.find(
    (e) => e.name === (process.env.PROFILE_FROM === 'dcl' ? 'parley-dcl' : 'parley-join'),
  );
  const connected = events.find((e) => e.name === 'parley-connected');
  if (!join || !connected) return void console.log('  (no join/connected marks in the trace)');
  const main = events.filter(
    (e) => e.pid === join.pid && e.tid === join.tid && e.ph === 'X' && e.dur !== undefined,
  );
  const from = join.ts;
  const to = connected.ts;
  // Self time per event name: duration minus the time of events nested inside it.
  main.sort((a, b) => a.ts - b.ts || b.dur! - a.dur!);
  const self = new Map<string, number>();
  const stack: TraceEvent[] = [];
  const add = (k: string, v: number) => self.set(k, (self.get(k) ?? 0) + v);
  const clip = (e: TraceEvent) => Math.max(0, Math.min(e.ts + e.dur!, to) - Math.max(e.ts, from));
  for (const e of main) {
    while (stack.length && stack.at(-1)!.ts + stack.at(-1)!.dur! <= e.ts) stack.pop();
    const parent = stack.at(-1);
    const label = (x: TraceEvent) =>
      x.name === 'FunctionCall' || x.name === 'EvaluateScript'
        ? `${x.name} ${`${x.args?.data?.functionName ?? ''} ${(x.args?.data?.url ?? '').replace(/^.*\//, '')}`}`
        : x.name;
    add(label(e), clip(e));
    if (parent) add(label(parent), -clip(e));
    stack.push(e);
  }
  if (process.env.PROFILE_TASKS === '1') {
    // Every task over 1 ms in the window, with its children's time by name.
    const tops = main.filter(
      (e) => e.name === 'RunTask' && e.ts + e.dur! > from && e.ts < to && e.dur! > 1000,
    );
    for (const t of tops) {
      const kids = new Map<string, number>();
      for (const e of main)
        if (e !== t && e.ts >= t.ts && e.ts + e.dur! <= t.ts + t.dur! && e.dur! > 300) {
          const b = (e.args as { beginData?: { dirtyObjects?: number; totalObjects?: number } })?.beginData;
          const k =
            e.name === 'FunctionCall'
              ? `FunctionCall ${e.args?.data?.functionName ?? ''}`
              : e.name === 'Layout' && b
                ? `Layout (${b.dirtyObjects}/${b.totalObjects} objects)`
                : e.name;
          kids.set(k, (kids.get(k) ?? 0) + e.dur!);
        }
      const list = [...kids]
        .sort((x, y) => y[1] - x[1])
        .slice(0, 6)
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`);
      console.log(
        `    +${((t.ts - from) / 1000).toFixed(1).padStart(6)} task ${(t.dur! / 1000).toFixed(1)} ms: ${list.join(', ')}`,
      );
    }
  }
  const busy = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(
    `  Bo's main thread from join to ICE connected: ${((to - from) / 1000).toFixed(1)} ms, busy ${(busy / 1000).toFixed(1)} ms; by event (self, ms):`,
  );
  for (const [k, us] of [...self].sort((x, y) => y[1] - x[1]).slice(0, 30)) {
    if (us > 200) console.log(`  ${(us / 1000).toFixed(1).padStart(7)}  ${k}`);
  }
}

/** TIMELINE=1: one merged, sorted timeline of [Date.now(), label] marks from every side. */
function printTimeline(title: string, opened: number, marks: [number, string][]): void {
  console.log(
    `  timeline of ${title} (ms after Bo opened the link; A Ana's page or overlay, S her service worker, B Bo's page):`,
  );
  for (const [t, label] of marks.filter(([t]) => t >= opened).sort((x, y) => x[0] - y[0]))
    console.log(`  ${String(t - opened).padStart(6)}  ${label}`);
}

/** Ana's overlay says "Waiting for someone to join" and shows her camera. */
async function anaReady(overlay: Frame): Promise<void> {
  // Polled with evaluate(function): the overlay's CSP forbids the string eval of waitForFunction.
  for (let i = 0; i < 1500; i++) {
    const ready = await overlay.evaluate(
      () =>
        document.querySelector<HTMLElement>('.parley-app')?.dataset.state === 'waiting' &&
        (document.querySelector<HTMLVideoElement>('.parley-local-video')?.videoWidth ?? 0) > 0,
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("Ana's overlay never showed her camera and 'Waiting for someone to join'");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Sample {
  linkToVideo: number;
  joinToConnected: number;
}

interface Bench {
  /** Makes call number i (0-based) and measures it. */
  call(i: number): Promise<Sample>;
  close(): Promise<void>;
}

async function setUpParley(): Promise<Bench> {
  const server = await startServer({ LOG_LEVEL: 'warn' });
  const pages = await startPageServer({ '/': ORDINARY_PAGE });
  const ana = await launchExtensionUser();
  const bo = await launchBrowser();
  await bo.context.addInitScript(INSTRUMENT);
  await bo.context.addInitScript(AUTO_JOIN);
  if (TIMELINE) {
    await ana.context.addInitScript(TIMELINE_MARKS);
    await bo.context.addInitScript(TIMELINE_MARKS);
    await (await ana.serviceWorker()).evaluate(WORKER_MARKS);
  }
  return {
    async call(i) {
      const anaPage = await ana.context.newPage();
      await anaPage.goto(`${pages.url}/`);
      const link = await startCallFromPopup(ana, anaPage, {
        server: server.url,
        name: 'Ana',
        media: 'video',
      });
      const overlay = await overlayFrame(anaPage, ana.extensionId);
      // Like the baseline's Ana (whose page has joined before Bo's opens), and like a person
      // who pastes the link after seeing "Waiting for someone to join": Ana's overlay is in
      // the room with her camera showing before Bo opens the link.
      await anaReady(overlay);
      const boPage = await bo.context.newPage();
      const profiler = PROFILE && i === CALLS - 1 ? await startProfile(boPage) : undefined;
      const opened = Date.now();
      // The Join click is made in the page the moment the button exists (AUTO_JOIN): a
      // person's reaction time is not ours to measure, and Playwright's actionability checks
      // would add ~200 ms the bare page never pays.
      await boPage.goto(link);
      const [a, b] = await Promise.all([
        firstRemoteFrame(overlay, '.parley-remote-video'),
        firstRemoteFrame(boPage, '.parley-remote-video'),
      ]);
      const m = await marks(boPage);
      if (profiler) await printProfile(profiler);
      const sample = { linkToVideo: Math.max(a, b) - opened, joinToConnected: m.connected! - m.join! };
      process.stdout.write(
        `  parley call ${i + 1}: link→video ${sample.linkToVideo} ms, join→connected ${sample.joinToConnected} ms\n`,
      );
      if (TIMELINE && i === CALLS - 1) {
        const worker = await ana.serviceWorker();
        printTimeline(`parley call ${i + 1}`, opened, [
          ...((await overlay.evaluate('window.__timeline || []')) as [number, string][]),
          ...((await boPage.evaluate('window.__timeline || []')) as [number, string][]),
          ...((await worker.evaluate('self.__timeline || []')) as [number, string][]),
          [a, 'A first remote frame on screen'],
          [b, 'B first remote frame on screen'],
        ]);
      }
      await boPage.close();
      await anaPage.close();
      return sample;
    },
    async close() {
      await ana.close();
      await bo.close();
      await pages.close();
      await server.stop();
    },
  };
}

async function setUpBare(): Promise<Bench> {
  const relay = await startBareCallServer();
  const a = await launchBrowser();
  const b = await launchBrowser();
  await b.context.addInitScript(INSTRUMENT);
  if (TIMELINE) {
    await a.context.addInitScript('window.__benchWho = "A"');
    await a.context.addInitScript(TIMELINE_MARKS);
    await b.context.addInitScript(TIMELINE_MARKS);
  }
  return {
    async call(i) {
      const room = `room${i}`;
      const aPage = await a.context.newPage();
      await aPage.goto(`${relay.url}/?room=${room}`);
      await aPage.waitForFunction(
        () => (window as unknown as { __marks: { joined?: number } }).__marks?.joined,
      );
      const bPage = await b.context.newPage();
      const opened = Date.now();
      await bPage.goto(`${relay.url}/?room=${room}`);
      const [ta, tb] = await Promise.all([
        firstRemoteFrame(aPage, '#remote'),
        firstRemoteFrame(bPage, '#remote'),
      ]);
      const m = await marks(bPage);
      const sample = { linkToVideo: Math.max(ta, tb) - opened, joinToConnected: m.connected! - m.join! };
      process.stdout.write(
        `  bare call ${i + 1}: link→video ${sample.linkToVideo} ms, join→connected ${sample.joinToConnected} ms\n`,
      );
      if (TIMELINE && i === CALLS - 1) {
        printTimeline(`bare call ${i + 1}`, opened, [
          ...((await aPage.evaluate('window.__timeline || []')) as [number, string][]),
          ...((await bPage.evaluate('window.__timeline || []')) as [number, string][]),
          [ta, 'A first remote frame on screen'],
          [tb, 'B first remote frame on screen'],
        ]);
      }
      await bPage.close();
      await aPage.close();
      return sample;
    },
    async close() {
      await a.close();
      await b.close();
      await relay.close();
    },
  };
}

function summarize(name: string, samples: Sample[]) {
  const l = samples.map((s) => s.linkToVideo);
  const j = samples.map((s) => s.joinToConnected);
  const out = {
    linkMedian: median(l),
    linkWorst: Math.max(...l),
    joinMedian: median(j),
    joinWorst: Math.max(...j),
  };
  console.log(
    `${name.padEnd(8)} link→video median ${out.linkMedian} ms, worst ${out.linkWorst} ms; join→ICE connected median ${out.joinMedian} ms, worst ${out.joinWorst} ms`,
  );
  return out;
}

if (process.argv.includes('--firefox')) {
  await firefoxGuestBench(CALLS, {
    instrument: INSTRUMENT,
    autoJoin: AUTO_JOIN,
    firstFrame: FIRST_FRAME,
    marks,
    anaReady,
  });
  process.exit(0);
}

console.log(`bench:call: ${CALLS} calls each, two Chromium profiles on loopback, fake camera and microphone`);
// Both set up at once and their calls alternated (bare, Parley, bare, …), so that a slower
// minute of this shared machine weighs on both sides alike.
const bareBench = await setUpBare();
const parleyBench = await setUpParley();
const bare: Sample[] = [];
const ours: Sample[] = [];
try {
  for (let i = 0; i < CALLS; i++) {
    bare.push(await bareBench.call(i));
    ours.push(await parleyBench.call(i));
  }
} finally {
  await bareBench.close();
  await parleyBench.close();
}
console.log('');
const b = summarize('bare', bare);
const o = summarize('parley', ours);
console.log(
  `ratio parley/bare: link→video ${(o.linkMedian / b.linkMedian).toFixed(2)} (goal ≤ 1.25), join→connected ${(o.joinMedian / b.joinMedian).toFixed(2)} (goal ≤ 1.1)`,
);
console.log(
  JSON.stringify({
    bench: 'call',
    ours_link_to_video_ms: o.linkMedian,
    bare_link_to_video_ms: b.linkMedian,
    ours_join_to_connected_ms: o.joinMedian,
    bare_join_to_connected_ms: b.joinMedian,
  }),
);
