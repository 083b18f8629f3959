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
 */
import type { Frame, Page } from 'playwright-core';
import { launchBrowser, ORDINARY_PAGE, startPageServer } from '../test/e2e/harness.ts';
import { launchExtensionUser, overlayFrame, startCallFromPopup } from '../test/e2e/popup-driver.ts';
import { startServer } from '../test/helpers/server-process.ts';
import { startBareCallServer } from './lib/bare-call.ts';

const CALLS = Number(process.env.CALLS ?? 10);

/** Installed in every page of the measured profiles: when Bo joined, when ICE connected. */
const INSTRUMENT = `(() => {
  const marks = (window.__benchMarks = window.__benchMarks || {});
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (!marks.join && typeof data === 'string' && (data.includes('"type":"join"') || data.includes('"hello"'))) marks.join = Date.now();
    return send.call(this, data);
  };
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('iceconnectionstatechange', () => {
        if ((this.iceConnectionState === 'connected' || this.iceConnectionState === 'completed') && !marks.connected) marks.connected = Date.now();
      });
    }
  };
})();`;

/** Clicks "Join call" on the guest page as soon as it appears. */
const AUTO_JOIN = `(() => {
  const tryClick = () => {
    const b = [...document.querySelectorAll('button')].find((x) => x.textContent.trim() === 'Join call');
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
    if (!video || !video.srcObject) return void setTimeout(check, 5);
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Sample {
  linkToVideo: number;
  joinToConnected: number;
}

async function benchParley(): Promise<Sample[]> {
  const server = await startServer({ LOG_LEVEL: 'warn' });
  const pages = await startPageServer({ '/': ORDINARY_PAGE });
  const ana = await launchExtensionUser();
  const bo = await launchBrowser();
  await bo.context.addInitScript(INSTRUMENT);
  await bo.context.addInitScript(AUTO_JOIN);
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < CALLS; i++) {
      const anaPage = await ana.context.newPage();
      await anaPage.goto(`${pages.url}/`);
      const link = await startCallFromPopup(ana, anaPage, {
        server: server.url,
        name: 'Ana',
        media: 'video',
      });
      const overlay = await overlayFrame(anaPage, ana.extensionId);
      const boPage = await bo.context.newPage();
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
      samples.push({ linkToVideo: Math.max(a, b) - opened, joinToConnected: m.connected! - m.join! });
      process.stdout.write(
        `  parley call ${i + 1}: link→video ${Math.max(a, b) - opened} ms, join→connected ${m.connected! - m.join!} ms\n`,
      );
      await boPage.close();
      await anaPage.close();
    }
  } finally {
    await ana.close();
    await bo.close();
    await pages.close();
    await server.stop();
  }
  return samples;
}

async function benchBare(): Promise<Sample[]> {
  const relay = await startBareCallServer();
  const a = await launchBrowser();
  const b = await launchBrowser();
  await b.context.addInitScript(INSTRUMENT);
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < CALLS; i++) {
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
      samples.push({ linkToVideo: Math.max(ta, tb) - opened, joinToConnected: m.connected! - m.join! });
      process.stdout.write(
        `  bare call ${i + 1}: link→video ${Math.max(ta, tb) - opened} ms, join→connected ${m.connected! - m.join!} ms\n`,
      );
      await bPage.close();
      await aPage.close();
    }
  } finally {
    await a.close();
    await b.close();
    await relay.close();
  }
  return samples;
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

console.log(`bench:call: ${CALLS} calls each, two Chromium profiles on loopback, fake camera and microphone`);
const bare = await benchBare();
const ours = await benchParley();
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
