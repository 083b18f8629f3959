/**
 * The overlay against hostile pages: a page that tries to style or cover it, with a strict
 * CSP, still gets a usable overlay; a page that frames the overlay URL itself gets an inert
 * panel that opens no camera and joins nothing.
 */

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINDOW_REASONS } from '../../src/messaging/messages.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { type PageServer, startPageServer } from './harness.ts';
import {
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
  RECORD_MEDIA,
  recordedMedia,
  startCallFromPopup,
} from './popup-driver.ts';

const HOSTILE_CSS = `
  * { all: unset !important; }
  html, body { pointer-events: none !important; }
  .cover { display: block !important; position: fixed !important; inset: 0 !important;
           z-index: 2147483647 !important; background: rgba(255, 0, 0, 0.2) !important; pointer-events: auto !important; }
  parley-overlay, iframe { display: none !important; visibility: hidden !important; opacity: 0 !important; }
`;

let server: ServerHandle;
let pages: PageServer;
let user: ExtensionUser;

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({
    '/hostile': {
      body: `<!doctype html><html lang="en"><head><title>Hostile</title><style>${HOSTILE_CSS}</style></head>
        <body><h1>Nothing to see</h1><div class="cover"></div><div class="cover" style="z-index: 999999999"></div></body></html>`,
      // Strict: nothing may load; only the page's own inline styles apply (so its CSS can attack).
      headers: { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" },
    },
    '/no-camera': {
      body: '<!doctype html><html lang="en"><head><title>No camera here</title></head><body><h1>Docs</h1></body></html>',
      headers: { 'Permissions-Policy': 'camera=(), microphone=()' },
    },
    '/frames-overlay': {
      body: '<!doctype html><html lang="en"><head><title>Framer</title></head><body></body></html>',
    },
  });
  user = await launchExtensionUser();
  await user.context.addInitScript(RECORD_MEDIA);
});

afterAll(async () => {
  await user?.close();
  await pages?.close();
  await server?.stop();
});

describe('the overlay on a hostile page', () => {
  it('shows a usable overlay despite global CSS, covering elements and a strict CSP', async () => {
    const page = await user.context.newPage();
    await page.goto(`${pages.url}/hostile`);
    await startCallFromPopup(user, page, { server: server.url, name: 'Ana', media: 'video' });
    const frame = await overlayFrame(page, user.extensionId);
    await frame.getByRole('button', { name: 'Hang up' }).waitFor({ timeout: 15_000 });

    // The capability this overlay used is spent: the same page framing it again gets nothing.
    const sw = await user.serviceWorker();
    const cap = await sw.evaluate(async () => {
      const calls = (await chrome.storage.session.get('calls')).calls as Record<string, { cap: string }>;
      return Object.values(calls)[0]!.cap;
    });
    await page.evaluate((url) => {
      const copy = document.createElement('iframe');
      copy.src = url;
      document.documentElement.append(copy);
    }, `chrome-extension://${user.extensionId}/src/overlay/overlay.html#cap=${cap}`);
    await expect
      .poll(async () => {
        const frames = page.frames().filter((f) => f.url().includes('/src/overlay/overlay.html'));
        const texts = await Promise.all(
          frames.map((f) => f.evaluate(() => (document.body.textContent ?? '').trim())),
        );
        return texts.filter((t) => t === 'This Parley panel was not opened by you.').length;
      })
      .toBe(1);

    const hangUp = frame.getByRole('button', { name: 'Hang up' });
    // Playwright's click checks that the button itself receives the pointer at its centre:
    // nothing of the page covers it, and the page's pointer-events:none does not reach it.
    await hangUp.click({ timeout: 15_000 });
    await expect.poll(() => overlayMounted(page), { timeout: 10_000 }).toBe(false);
    await page.close();
  });
});

describe('a page that frames the overlay itself', () => {
  for (const fragment of ['', '#cap=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
    it(`gets an inert panel, no camera and no join (${fragment ? 'made-up capability' : 'no capability'})`, async () => {
      const socketsBefore = await metric('parley_messages_received_total');
      const page = await user.context.newPage();
      await page.goto(`${pages.url}/frames-overlay`);
      const src = `chrome-extension://${user.extensionId}/src/overlay/overlay.html${fragment}`;
      await page.evaluate((url) => {
        const frame = document.createElement('iframe');
        frame.allow = 'camera; microphone; autoplay; clipboard-write';
        frame.src = url;
        document.body.append(frame);
      }, src);
      const frame = await overlayFrame(page, user.extensionId);
      await expect
        .poll(() => frame.evaluate(() => (document.body.textContent ?? '').trim()), { timeout: 10_000 })
        .toBe('This Parley panel was not opened by you.');
      // Nothing beyond the sentence: no video, no buttons, and the camera was never opened.
      expect(await frame.evaluate(() => document.querySelectorAll('video, audio, button').length)).toBe(0);
      expect(await frame.evaluate(() => location.hash)).toBe('');
      expect((await recordedMedia(frame)).calls).toEqual([]);
      // The service worker registered no call, and the server never heard from anybody.
      const sw = await user.serviceWorker();
      expect(
        await sw.evaluate(async () => Object.keys((await chrome.storage.session.get('calls')).calls ?? {})),
      ).toEqual([]);
      expect(await metric('parley_messages_received_total')).toBe(socketsBefore);
      expect(await metric('parley_sockets')).toBe(0);
      await page.close();
    });
  }
});

describe('where the overlay cannot run', () => {
  async function callWindowAfterStart(page: Page) {
    const opened = user.context.waitForEvent('page', {
      predicate: (p) => p.url().startsWith(`chrome-extension://${user.extensionId}/src/overlay/window.html`),
      timeout: 20_000,
    });
    await startCallFromPopup(user, page, { server: server.url, name: 'Ana', media: 'video' });
    return opened;
  }

  it("opens the call in its own window, saying why, when the page's Permissions-Policy blocks the camera", async () => {
    const page = await user.context.newPage();
    await page.goto(`${pages.url}/no-camera`);
    const win = await callWindowAfterStart(page);
    await win.getByText(WINDOW_REASONS.policy).waitFor({ timeout: 15_000 });
    await win.getByRole('button', { name: 'Copy link' }).first().waitFor();
    // The overlay left the page; the call lives in the window now.
    await expect.poll(() => overlayMounted(page), { timeout: 10_000 }).toBe(false);
    await win.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => win.isClosed(), { timeout: 10_000 }).toBe(true);
    await page.close();
  });

  it('opens the call in its own window on a page extensions may not script', async () => {
    const page = await user.context.newPage();
    await page.goto('chrome://version');
    const win = await callWindowAfterStart(page);
    await win.getByText(WINDOW_REASONS.restricted).waitFor({ timeout: 15_000 });
    await win.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => win.isClosed(), { timeout: 10_000 }).toBe(true);
    await page.close();
  });
});
