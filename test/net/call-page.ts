/**
 * What the lab's call tests do with a guest page: join a call, count the frames its remote
 * videos present (requestVideoFrameCallback; never currentTime, which keeps advancing when
 * frames stop), read its peer connections' stats, and say what the page saw when a wait fails.
 */
import { loadavg } from 'node:os';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type LabBrowser, SERVER_URL } from './lab.ts';

/**
 * Counts the frames every remote video presents (a video element replaced by the UI is
 * picked up too): `window.__frames` holds their times (performance.now()).
 */
export const COUNT_FRAMES = () => {
  const w = window as unknown as { __frames: number[] };
  w.__frames = [];
  const watched = new WeakSet<HTMLVideoElement>();
  setInterval(() => {
    for (const v of document.querySelectorAll<HTMLVideoElement>('.parley-remote-video')) {
      if (watched.has(v)) continue;
      watched.add(v);
      const tick = (now: number) => {
        w.__frames.push(now);
        v.requestVideoFrameCallback(tick);
      };
      v.requestVideoFrameCallback(tick);
    }
  }, 100);
};

/** The engine's console lines per page (`Parley: …`), told when a wait fails. */
export const consoleLines = new WeakMap<Page, string[]>();

/** Opens `link` in a new page of `browser` and joins as `name` (with the camera unless `camera: false`). */
export async function join(
  browser: LabBrowser,
  link: string,
  name: string,
  { camera = true }: { camera?: boolean } = {},
): Promise<Page> {
  const page = await browser.context.newPage();
  const lines: string[] = [];
  consoleLines.set(page, lines);
  const openedAt = Date.now();
  page.on('console', (m) => {
    if (m.text().startsWith('Parley')) lines.push(`${name} +${Date.now() - openedAt} ms: ${m.text()}`);
  });
  await page.goto(link).catch(async (err: Error) => {
    // Chromium aborts a navigation when it sees its namespace's network change (the lab adding
    // another computer can make it): the person would load the page again, and so do we, once.
    if (!String(err.message).includes('ERR_NETWORK_CHANGED')) throw err;
    await page.goto(link);
  });
  expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
  await page.evaluate(COUNT_FRAMES);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  if (!camera) await page.getByLabel('Join with camera').uncheck();
  await page.getByRole('button', { name: 'Join call' }).click();
  return page;
}

export function newLink(): string {
  return formatShareLink(newShareLink(SERVER_URL));
}

/** Frame times (ms, the page's clock) and the page's clock now. */
export function frames(page: Page): Promise<{ times: number[]; now: number }> {
  return page.evaluate(() => ({
    times: (window as unknown as { __frames: number[] }).__frames,
    now: performance.now(),
  }));
}

/**
 * Waits until the remote video plays steadily: frames over the last 2 s, none more than
 * 500 ms apart. Returns that moment (the page's clock).
 */
export async function videoFlowing(page: Page, timeoutMs: number, since = 0): Promise<number> {
  try {
    return await steadyFrames(page, timeoutMs, since);
  } catch (err) {
    // Say what the page saw: frames (none? a trickle?) and what the engine did.
    const seen = await watch(page, 10_000).catch(() => null);
    const lines = consoleLines.get(page) ?? [];
    throw new Error(
      `no steady video within ${timeoutMs} ms (last 10 s: ${JSON.stringify(seen)}; ` +
        `load average ${loadavg()[0]?.toFixed(1)})\n${lines.join('\n')}\n${err instanceof Error ? err.message : err}`,
    );
  }
}

export async function steadyFrames(page: Page, timeoutMs: number, since = 0): Promise<number> {
  const handle = await page.waitForFunction(
    (since) => {
      const times = (window as unknown as { __frames: number[] }).__frames;
      const now = performance.now();
      if (now - 2000 < since) return false;
      const recent = times.filter((t) => t > now - 2000);
      if (recent.length < 10) return false;
      let previous = now - 2000;
      for (const t of [...recent, now]) {
        if (t - previous > 500) return false;
        previous = t;
      }
      return now;
    },
    since,
    { timeout: timeoutMs, polling: 100 },
  );
  return (await handle.jsonValue()) as number;
}

/** Frames per second and the longest gap between frames over the last `ms`. */
export async function watch(page: Page, ms: number): Promise<{ fps: number; longestGapMs: number }> {
  const { times, now } = await frames(page);
  const from = now - ms;
  const inside = times.filter((t) => t >= from);
  let longestGapMs = 0;
  let previous = from;
  for (const t of [...inside, now]) {
    longestGapMs = Math.max(longestGapMs, t - previous);
    previous = t;
  }
  return { fps: Math.round((inside.length / (ms / 1000)) * 10) / 10, longestGapMs: Math.round(longestGapMs) };
}

/** The local candidate of the connection's selected pair, from the page's peer connection stats. */
export async function selectedLocalCandidate(
  page: Page,
): Promise<{ candidateType: string; relayProtocol?: string }[]> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs ?? [];
    const found: { candidateType: string; relayProtocol?: string }[] = [];
    for (const pc of pcs) {
      if (pc.connectionState !== 'connected') continue;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = stats.get(s.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        if (local) found.push({ candidateType: local.candidateType, relayProtocol: local.relayProtocol });
      });
    }
    return found;
  });
}

/** Keeps every peer connection a page makes reachable for stats. */
export const RECORD_CONNECTIONS = () => {
  const w = window as unknown as { __pcs: RTCPeerConnection[] };
  w.__pcs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      w.__pcs.push(this);
    }
  } as typeof RTCPeerConnection;
};

/**
 * From now on, remembers whether the page ever said it is reconnecting (the media watchdog
 * shows "Reconnecting to …" when media stops, before it restarts ICE).
 */
export async function watchReconnecting(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __reconnecting: boolean };
    w.__reconnecting = false;
    const check = () => {
      if (/Reconnecting/.test(document.body.textContent ?? '')) w.__reconnecting = true;
    };
    new MutationObserver(check).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
    });
    check();
  });
}

export function saidReconnecting(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { __reconnecting: boolean }).__reconnecting);
}

export async function hangUp(...pages: Page[]): Promise<void> {
  for (const page of pages) await page.close().catch(() => {});
}

/** The addresses of the local candidate each connected peer connection uses now. */
export async function localAddresses(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs ?? [];
    const found: string[] = [];
    for (const pc of pcs) {
      if (pc.connectionState !== 'connected') continue;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = stats.get(s.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        if (local?.address) found.push(local.address);
        if (local?.relatedAddress) found.push(local.relatedAddress);
      });
    }
    return found;
  });
}

export interface MediaCounters {
  at: number;
  framesDecoded: number;
  samples: number;
  concealed: number;
}

/** The page's inbound media counters (its connected peer connections, summed). */
export function counters(page: Page): Promise<MediaCounters> {
  return page.evaluate(async () => {
    const out = { at: performance.now(), framesDecoded: 0, samples: 0, concealed: 0 };
    for (const pc of (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs) {
      if (pc.connectionState !== 'connected') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') out.framesDecoded += s.framesDecoded ?? 0;
        if (s.kind === 'audio') {
          out.samples += s.totalSamplesReceived ?? 0;
          out.concealed += s.concealedSamples ?? 0;
        }
      });
    }
    return out;
  });
}

/** Sends a chat message from one page and waits until the other shows it. */
export async function chat(from: Page, to: Page, text: string, timeoutMs = 20_000): Promise<void> {
  for (const page of [from, to]) {
    const list = page.getByRole('list', { name: 'Messages' });
    if (!(await list.isVisible())) await page.getByRole('button', { name: 'Chat' }).click();
  }
  const box = from.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await to.getByRole('list', { name: 'Messages' }).getByText(text).waitFor({ timeout: timeoutMs });
}

/** The call timer's seconds (its label says `Call time m:ss`). */
export async function callSeconds(page: Page): Promise<number> {
  const label = (await page.getByRole('timer', { name: /^Call time/ }).getAttribute('aria-label')) ?? '';
  const parts = (label.match(/[\d:]+$/)?.[0] ?? '').split(':').map(Number);
  if (parts.length < 2 || parts.some(Number.isNaN)) throw new Error(`no call time in "${label}"`);
  return parts.reduce((total, n) => total * 60 + n, 0);
}

/**
 * From now on, remembers every text the page's alerts (notices) show, and whether the page
 * ever said "Connection lost" or "Call ended".
 */
export async function recordNotices(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __notices: string[]; __ended: boolean };
    w.__notices = [];
    w.__ended = false;
    const check = () => {
      for (const el of document.querySelectorAll('[role="alert"]')) {
        const text = (el as HTMLElement).hidden ? '' : (el.textContent ?? '').trim();
        if (text && !w.__notices.includes(text)) w.__notices.push(text);
      }
      if (/Connection lost|Call ended/.test(document.body.textContent ?? '')) w.__ended = true;
    };
    new MutationObserver(check).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
    });
    check();
  });
}

export function notices(page: Page): Promise<{ notices: string[]; ended: boolean }> {
  return page.evaluate(() => {
    const w = window as unknown as { __notices: string[]; __ended: boolean };
    return { notices: w.__notices, ended: w.__ended };
  });
}
