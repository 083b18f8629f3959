/**
 * `npm run bench:transfer -- --firefox` (see bench/transfer.ts): file transfer with Firefox
 * (Debian's firefox-esr over WebDriver BiDi, test/e2e/firefox-harness.ts) on one side and
 * Chromium on the other, against Chromium ↔ Chromium measured in the same run, transfers
 * alternated. Calls, all up at once through the real signaling server (audio only):
 *   - baseline: two Chromium guest pages (as `bench:transfer`'s guest receiver);
 *   - FIREFOX_SIDES=guest: the guest page in Firefox with a Chromium guest, files both ways;
 *   - FIREFOX_SIDES=extension: the Firefox extension overlay (dist-firefox-e2e, call started
 *     from its real popup, test/e2e/firefox-popup.ts) with a Chromium guest, files both
 *     ways; received files are written to OPFS by the overlay itself.
 * Each leg (sender → receiver) gets one small unmeasured warm-up pair, then RUNS rounds: in
 * each round every leg in turn, raw loop then Parley, as bench:transfer measures them. Per
 * leg it prints Parley/raw (median of per-pair ratios) and Parley's rate against the
 * Chromium ↔ Chromium Parley rate of the same round (median of per-round ratios).
 * Memory is not measured on the Firefox side.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page as FirefoxPage } from 'puppeteer-core';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { joinCall } from '../../test/e2e/files-helpers.ts';
import { launchFirefox } from '../../test/e2e/firefox-harness.ts';
import { firefoxOverlayFrame, startFirefoxCall } from '../../test/e2e/firefox-popup.ts';
import {
  type BrowserUser,
  launchBrowser,
  ORDINARY_PAGE,
  ROOT,
  startPageServer,
} from '../../test/e2e/harness.ts';
import { startServer } from '../../test/helpers/server-process.ts';
import { RECORD_CHANNELS, rawThroughput, type Target } from './transfer-raw.ts';
import {
  dropFiles,
  filesReady,
  fromPuppeteer,
  MiB,
  makeLargeFile,
  median,
  NAME_HELPER,
  round,
  waitDone,
} from './transfer-steps.ts';

/** Keep timers in Firefox's background tabs at full rate (several calls share one window). */
const NO_BACKGROUND_THROTTLING = {
  'dom.min_background_timeout_value': 4,
  'dom.min_background_timeout_value_without_budget_throttling': 4,
  'dom.timeout.enable_budget_timer_throttling': false,
};

interface Leg {
  /** Printed, e.g. "chromium → firefox guest page". */
  name: string;
  /** JSON key prefix. */
  key: string;
  sender: Target;
  receiver: Target;
  /** The Firefox tab this leg uses, made the active tab before it runs. */
  firefoxTab?: FirefoxPage;
  ours: number[];
  raw: number[];
}

/** A Chromium guest opens `link`, joins as `name` without camera (audio, as bench:transfer). */
async function chromiumJoins(user: BrowserUser, link: string, name: string) {
  const page = await user.context.newPage();
  await page.goto(link);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  const camera = page.getByLabel('Join with camera');
  if (await camera.count()) await camera.uncheck();
  await page.getByRole('button', { name: 'Join call' }).click();
  return page;
}

/** The guest page in Firefox: opens `link`, joins as `name` without camera. */
async function firefoxGuestJoins(page: FirefoxPage, link: string, name: string): Promise<void> {
  await page.goto(link, { waitUntil: 'domcontentloaded', timeout: 120_000 });
  await page.evaluate(NAME_HELPER);
  await page.evaluate(RECORD_CHANNELS);
  await page.locator('::-p-aria(Your name[role="textbox"])').fill(name);
  const camera = await page.$('#guest-camera');
  if (camera && (await camera.evaluate((input) => (input as HTMLInputElement).checked))) await camera.click();
  await page.locator('::-p-aria(Join call[role="button"])').click();
}

export async function firefoxTransferBench(options: {
  bytes: number;
  runs: number;
  timeoutMs: number;
  rawIdFrom: number;
}): Promise<void> {
  const { bytes, runs, timeoutMs, rawIdFrom } = options;
  const sides = (process.env.FIREFOX_SIDES ?? 'guest,extension').split(',').map((s) => s.trim());
  if (sides.includes('extension') && !existsSync(join(ROOT, 'dist-firefox-e2e/manifest.json')))
    throw new Error('The Firefox e2e extension is not built: run `npm run build:firefox:e2e` first.');
  console.log(
    `bench:transfer --firefox: ${runs} rounds of ${bytes / MiB} MiB per leg; Firefox sides ${sides.join(', ')}; ` +
      'Firefox is firefox-esr over WebDriver BiDi, Chromium headless, real server on loopback',
  );
  const server = await startServer({ LOG_LEVEL: 'warn' });
  const pages = await startPageServer({ '/': ORDINARY_PAGE });
  const [firefox, ana, bo] = await Promise.all([
    launchFirefox({
      extension: sides.includes('extension') ? 'dist-firefox-e2e' : undefined,
      prefs: NO_BACKGROUND_THROTTLING,
    }),
    launchBrowser({ extension: false }),
    launchBrowser({ extension: false }),
  ]);
  try {
    for (const user of [ana, bo]) {
      await user.context.addInitScript({ content: NAME_HELPER });
      await user.context.addInitScript({ content: RECORD_CHANNELS });
    }
    const legs: Leg[] = [];
    const leg = (name: string, key: string, sender: Target, receiver: Target, firefoxTab?: FirefoxPage) =>
      legs.push({ name, key, sender, receiver, firefoxTab, ours: [], raw: [] });

    const base = await joinCall(server.url, ana.context, bo.context);
    leg('chromium → chromium', 'chromium', base.a, base.b);

    if (sides.includes('guest')) {
      const link = formatShareLink(newShareLink(server.url));
      const fay = await firefox.newPage();
      await firefoxGuestJoins(fay, link, 'Fay');
      const bruno = await chromiumJoins(bo, link, 'Bruno');
      const f = fromPuppeteer(fay);
      await filesReady(f, 'Firefox guest page');
      await filesReady(bruno, 'Chromium guest with the Firefox guest page');
      leg('chromium → firefox guest page', 'firefox_guest_receiver', bruno, f, fay);
      leg('firefox guest page → chromium', 'firefox_guest_sender', f, bruno, fay);
    }

    if (sides.includes('extension')) {
      const tab = await firefox.newPage();
      await tab.goto(`${pages.url}/`, { waitUntil: 'domcontentloaded', timeout: 120_000 });
      await startFirefoxCall(firefox, tab, { server: server.url, name: 'Fay', media: 'audio' });
      const frame = await firefoxOverlayFrame(tab, 60_000);
      // After the overlay made its connection for the next person (BiDi preload scripts do
      // not reach moz-extension frames): recorded when it negotiates with Anton below.
      await frame.evaluate(NAME_HELPER);
      await frame.evaluate(RECORD_CHANNELS);
      const link = await frame.$eval('.parley-link-text', (el) => el.textContent ?? '');
      const anton = await chromiumJoins(ana, link, 'Anton');
      const overlay = fromPuppeteer(frame);
      await filesReady(overlay, 'Firefox extension overlay');
      await filesReady(anton, 'Chromium guest with the Firefox overlay');
      leg('chromium → firefox extension overlay', 'firefox_extension_receiver', anton, overlay, tab);
      leg('firefox extension overlay → chromium', 'firefox_extension_sender', overlay, anton, tab);
    }

    const transfer = async (l: Leg, size: number, file: string, label: string) => {
      await l.firefoxTab?.bringToFront();
      const r = await rawThroughput(l.sender, l.receiver, size, { from: rawIdFrom, timeoutMs, label });
      await makeLargeFile(l.sender, file, size);
      const start = Date.now();
      await dropFiles(l.sender);
      await waitDone(l.receiver, file, timeoutMs, label);
      return { raw: r.mbPerS, ours: size / ((Date.now() - start) / 1000) / 1e6 };
    };

    // One small unmeasured pair per leg: a fresh connection's first loop is slower.
    for (const [i, l] of legs.entries())
      await transfer(l, Math.min(bytes, 16 * MiB), `warm-up-${i}.bin`, `${l.name}, warm-up`);
    for (let run = 0; run < runs; run += 1) {
      for (const [i, l] of legs.entries()) {
        const label = `${l.name}, round ${run + 1}`;
        const { raw, ours } = await transfer(l, bytes, `bench-${i}-${run}.bin`, label);
        l.raw.push(raw);
        l.ours.push(ours);
        console.log(
          `  ${label}: raw ${round(raw)} MB/s, Parley ${round(ours)} MB/s, ratio ${round(ours / raw, 2)}×`,
        );
      }
    }

    const baseline = legs[0]!;
    const summary: Record<string, unknown> = { bench: 'transfer-firefox' };
    console.log('');
    for (const l of legs) {
      const ratios = l.ours.map((o, i) => o / l.raw[i]!);
      const vsChromium = l.ours.map((o, i) => o / baseline.ours[i]!);
      console.log(
        `${l.name.padEnd(38)} Parley median ${round(median(l.ours))} MB/s, raw ${round(median(l.raw))} MB/s, ` +
          `Parley/raw ${round(median(ratios), 2)}×` +
          (l === baseline
            ? ''
            : `; against chromium → chromium ${round(median(vsChromium), 2)}× (rounds ${vsChromium.map((x) => round(x, 2)).join(', ')})`),
      );
      summary[`${l.key}_mb_per_s`] = round(median(l.ours));
      summary[`${l.key}_raw_mb_per_s`] = round(median(l.raw));
      summary[`${l.key}_ratio_raw`] = round(median(ratios), 2);
      if (l !== baseline) summary[`${l.key}_vs_chromium`] = round(median(vsChromium), 2);
    }
    console.log(JSON.stringify(summary));
  } finally {
    await Promise.all([firefox.close(), ana.close(), bo.close()]);
    await pages.close();
    await server.stop();
  }
}
