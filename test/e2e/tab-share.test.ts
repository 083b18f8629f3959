/**
 * "Share this tab" in the extension overlay (real Chromium, the built extension, the real
 * server): Ana's overlay shares the page it is on, and Bo (a guest) sees the page, not the
 * overlay. Chromium accepts its "Share this tab?" by itself here
 * (--auto-accept-this-tab-capture); the capture is a real one of Ana's tab, restricted to the
 * page's root element, so the overlay (in the top layer) is left out.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { type BrowserUser, launchBrowser, type PageServer, screenshot, startPageServer } from './harness.ts';
import { type ExtensionUser, launchExtensionUser, overlayFrame, startCallFromPopup } from './popup-driver.ts';

/** A page of one known colour (magenta), with a heading. */
const MAGENTA_PAGE = {
  body: '<!doctype html><html lang="en" style="background:#ff00ff"><head><title>A magenta page</title></head><body style="margin:0"><h1 style="color:#fff;margin:0;padding:24px">Quarterly figures</h1></body></html>',
};

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let guest: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': MAGENTA_PAGE });
  [ana, guest] = await Promise.all([launchExtensionUser({ tabCapture: true }), launchBrowser()]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

/** The colour of the received share at (fx, fy) as fractions of its frame. */
function shareColourAt(page: Page, fx: number, fy: number) {
  return page.evaluate(
    ({ fx, fy }) => {
      const video = document.querySelector(
        '.parley-tile[data-source="screen"] video',
      ) as HTMLVideoElement | null;
      if (!video || video.videoWidth === 0) return null;
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      const g = canvas.getContext('2d');
      if (!g) return null;
      g.drawImage(video, 0, 0);
      const [r, gr, b] = g.getImageData(
        Math.floor(fx * canvas.width),
        Math.floor(fy * canvas.height),
        1,
        1,
      ).data;
      return [r, gr, b] as [number, number, number];
    },
    { fx, fy },
  );
}

const isMagenta = (c: [number, number, number] | null) => c !== null && c[0] > 200 && c[1] < 80 && c[2] > 200;

describe('Share this tab in the overlay', () => {
  it('Bo sees the page Ana is on, with the overlay left out of it', async () => {
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'video' });
    const overlay = await overlayFrame(anaPage, ana.extensionId);
    const bo = await guest.context.newPage();
    await bo.goto(link);
    await bo.getByRole('textbox', { name: 'Your name' }).fill('Bo');
    await bo.getByRole('button', { name: 'Join call' }).click();
    await bo.locator('.parley-tile[data-source="camera"]', { hasText: 'Ana' }).waitFor({ timeout: 30_000 });

    await overlay.getByRole('button', { name: 'Share this tab' }).click();
    await overlay.getByText('You are sharing a tab').waitFor();
    await bo.getByRole('group', { name: "Ana's screen" }).waitFor({ timeout: 30_000 });

    // Where the overlay sits on Ana's page (bottom right), the share shows the page.
    const box = await anaPage.locator('parley-overlay').boundingBox();
    const viewport = await anaPage.evaluate(() => ({ width: innerWidth, height: innerHeight }));
    expect(box).not.toBeNull();
    const cx = ((box?.x ?? 0) + (box?.width ?? 0) / 2) / viewport.width;
    const cy = ((box?.y ?? 0) + (box?.height ?? 0) / 2) / viewport.height;
    await expect
      .poll(async () => isMagenta(await shareColourAt(bo, 0.5, 0.5)), { timeout: 30_000 })
      .toBe(true);
    expect(await shareColourAt(bo, cx, cy)).toSatisfy(isMagenta);
    await screenshot(bo, 'tab-share-receiver');

    await overlay.getByRole('button', { name: 'Stop sharing' }).click();
    await bo.getByRole('group', { name: "Ana's screen" }).waitFor({ state: 'detached' });
    await Promise.all([anaPage.close(), bo.close()]);
  });
});
