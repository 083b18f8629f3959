/**
 * Firefox stops the extension's event page after `extensions.background.idle.timeout` without
 * extension activity, whatever its WebSockets do (../../src/platform/background.firefox.ts).
 * The signaling client calls an extension API with each keepalive, which counts as activity.
 * Here the idle timeout is lowered by pref to IDLE_MS, above the e2e build's keepalive
 * (E2E_KEEPALIVE_MS; 30 s and 20 s in real use): first the event page is seen to stop when
 * nothing happens (so the pref holds), then a call's signaling socket keeps it running for
 * several idle timeouts: the server sees one socket all along and no resume, and the overlay
 * still waits for its guest. (The presence socket is the same SignalingClient with the same
 * keepalive hook.)
 */
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { E2E_KEEPALIVE_MS } from '../../vite.firefox.config.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { type FirefoxUser, launchFirefox } from './firefox-harness.ts';
import { firefoxOverlayFrame, helperPage, startFirefoxCall } from './firefox-popup.ts';
import { ORDINARY_PAGE, type PageServer, startPageServer } from './harness.ts';

const IDLE_MS = 5000;

let server: ServerHandle;
let pages: PageServer;
let ana: FirefoxUser;
let helper: Page;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  ana = await launchFirefox({
    extension: 'dist-firefox-e2e',
    prefs: { 'extensions.background.idle.timeout': IDLE_MS },
  });
  helper = await helperPage(ana);
});

afterAll(async () => {
  await ana?.close();
  await pages?.close();
  await server?.stop();
});

/** Whether the event page runs now (getBackgroundPage() does not wake it, unlike runtime's). */
const backgroundRuns = () => helper.evaluate(() => chrome.extension.getBackgroundPage() !== null);

const metric = async (name: string) => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
};

test('with nothing to do, the event page stops after the idle timeout', async () => {
  expect(IDLE_MS).toBeGreaterThan(2 * E2E_KEEPALIVE_MS);
  await expect.poll(backgroundRuns, { timeout: 60_000, interval: 250 }).toBe(false);
});

test("a call's signaling socket keeps the event page alive through several idle timeouts", async () => {
  const page =
    (await ana.browser.pages()).find((p) => !p.url().startsWith('moz-extension:')) ?? (await ana.newPage());
  await page.goto(`${pages.url}/`);
  await startFirefoxCall(ana, page, { server: server.url, name: 'Ana', media: 'video' });
  const overlay = await firefoxOverlayFrame(page);
  await overlay.waitForSelector('::-p-text(Waiting for someone to join)', { timeout: 20_000 });
  const until = Date.now() + 3 * IDLE_MS;
  const samples: { runs: boolean; sockets: number }[] = [];
  while (Date.now() < until) {
    samples.push({ runs: await backgroundRuns(), sockets: await metric('parley_sockets') });
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(samples.length).toBeGreaterThan(10);
  expect(samples.filter((s) => !s.runs || s.sockets !== 1)).toEqual([]);
  // A page that had stopped would have reconnected and resumed its place in the room.
  expect(await metric('parley_resumes_total')).toBe(0);
  expect(await overlay.$eval('.parley-app', (app) => app.textContent ?? '')).toContain(
    'Waiting for someone to join',
  );
});
