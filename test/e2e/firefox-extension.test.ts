/**
 * The extension in Firefox (Debian's firefox-esr, the dist-firefox-e2e build installed over
 * WebDriver BiDi): it installs; its real toolbar popup (opened with action.openPopup() and
 * driven through extension.getViews, see firefox-popup.ts: the toolbar button itself cannot
 * be clicked headless) starts a call on an ordinary page; a Chromium guest joins by the link
 * and both see video (frames counted); a file dropped on the Firefox overlay arrives
 * byte-exact, and one sent to it is written to OPFS by the overlay itself (no offscreen
 * document in Firefox) and saved to disk byte-exact; chat goes both ways; hanging up in
 * Firefox ends both sides.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page as ChromiumPage } from 'playwright-core';
import type { Page as FirefoxPage, Frame } from 'puppeteer-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { card, dropTestFiles, makeFiles } from './files-helpers.ts';
import {
  collectFirefoxErrors,
  type FirefoxUser,
  firefoxFramesAdvance,
  launchFirefox,
} from './firefox-harness.ts';
import { firefoxOverlayFrame, openFirefoxPopup, startFirefoxCall } from './firefox-popup.ts';
import {
  type BrowserUser,
  collectConsoleErrors,
  launchBrowser,
  ORDINARY_PAGE,
  type PageServer,
  startPageServer,
} from './harness.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: FirefoxUser;
let bo: BrowserUser;
let downloads: string;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  downloads = await mkdtemp(join(tmpdir(), 'parley-firefox-downloads-'));
  [ana, bo] = await Promise.all([
    launchFirefox({ extension: 'dist-firefox-e2e', downloads }),
    launchBrowser({ extension: false }),
  ]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await pages?.close();
  await server?.stop();
  if (downloads) await rm(downloads, { recursive: true, force: true });
});

/** Files the same overlay frame holds under parley-incoming in its own OPFS. */
const overlayIncomingFiles = (overlay: Frame) =>
  overlay.evaluate(async () => {
    const names: string[] = [];
    const walk = async (dir: FileSystemDirectoryHandle) => {
      for await (const entry of (dir as unknown as { values(): AsyncIterable<FileSystemHandle> }).values()) {
        if (entry.kind === 'file') names.push(entry.name);
        else await walk(entry as FileSystemDirectoryHandle);
      }
    };
    await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle('parley-incoming'));
    return names.length;
  });

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let page: FirefoxPage;
let overlay: Frame;
let guest: ChromiumPage;
let pageErrors: string[];
let guestErrors: string[];

test('installed in Firefox, its popup starts a call on a page; a Chromium guest joins by the link; both see video', async () => {
  // Installed: launchFirefox installed it over BiDi (it throws on any install error), and
  // the popup below gets its state from the background event page.
  page = (await ana.browser.pages())[0] ?? (await ana.newPage());
  pageErrors = collectFirefoxErrors(page);
  await page.goto(`${pages.url}/`);
  await startFirefoxCall(ana, page, { server: server.url, name: 'Ana', media: 'video' });
  overlay = await firefoxOverlayFrame(page);
  await overlay.waitForSelector('::-p-text(Waiting for someone to join)', { timeout: 20_000 });
  const link = await overlay.$eval('.parley-link-text', (el) => el.textContent ?? '');
  expect(parseShareLink(link)?.server).toBe(server.url);

  guest = await bo.context.newPage();
  guestErrors = collectConsoleErrors(guest);
  await guest.goto(link);
  await guest.getByRole('textbox', { name: 'Your name' }).fill('Bo');
  await guest.getByRole('button', { name: 'Join call' }).click();
  await overlay.waitForSelector('.parley-remote-video', { timeout: 60_000 });
  expect(await firefoxFramesAdvance(overlay, '.parley-remote-video', 5)).toBe(true);
  await guest.locator('.parley-remote-video').waitFor({ timeout: 60_000 });
  expect(
    await guest.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const v = document.querySelector('.parley-remote-video') as HTMLVideoElement;
          let n = 0;
          const tick = () => (++n >= 5 ? resolve(n) : v.requestVideoFrameCallback(tick));
          v.requestVideoFrameCallback(tick);
        }),
    ),
  ).toBe(5);
  await guest.locator('.parley-tile-name', { hasText: 'Ana' }).waitFor();
  await overlay.waitForSelector('.parley-tile-name::-p-text(Bo)');
});

test('a file dropped on the Firefox overlay arrives byte-exact', async () => {
  const sent = await overlay.evaluate(async () => {
    const bytes = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
    const file = new File([bytes], 'from-firefox.bin', { type: 'application/octet-stream' });
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    const target = document.querySelector('.parley-app') as HTMLElement;
    const dataTransfer = new DataTransfer();
    dataTransfer.items.add(file);
    for (const type of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(
        new DragEvent(type, { dataTransfer, bubbles: true, cancelable: true, composed: true }),
      );
    }
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  });
  await expect
    .poll(() => card(guest, 'from-firefox.bin').getAttribute('data-state'), { timeout: 60_000 })
    .toBe('done');
  const [download] = await Promise.all([
    guest.waitForEvent('download'),
    card(guest, 'from-firefox.bin').getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(sha256(await readFile(await download.path()))).toBe(sent);
});

test('a file sent to Firefox is written to OPFS by the overlay itself and saved byte-exact', async () => {
  const originals = await makeFiles(guest, [
    { kind: 'random', name: 'to-firefox.bin', size: 2 * 1024 * 1024 + 5 },
  ]);
  await dropTestFiles(guest);
  await overlay.waitForSelector('li.parley-file[data-state="done"] ::-p-text(to-firefox.bin)', {
    timeout: 60_000,
  });
  expect(await overlayIncomingFiles(overlay)).toBeGreaterThan(0);
  await overlay.locator('::-p-aria(Save to-firefox.bin)').click();
  const saved = join(downloads, 'to-firefox.bin');
  await expect
    .poll(() => existsSync(saved) && readdir(downloads), { timeout: 20_000 })
    .toEqual(['to-firefox.bin']);
  await expect
    .poll(async () => sha256(await readFile(saved)), { timeout: 10_000 })
    .toBe(originals['to-firefox.bin']!.sha256);
});

test('chat both ways', async () => {
  await overlay.locator('::-p-aria(Chat[role="button"])').click();
  await overlay.locator('::-p-aria(Message[role="textbox"])').fill('Hello from Firefox');
  await overlay.locator('::-p-aria(Send[role="button"])').click();
  await guest.getByRole('button', { name: 'Chat' }).click();
  await guest
    .getByRole('list', { name: 'Messages' })
    .getByText('Hello from Firefox')
    .waitFor({ timeout: 15_000 });
  await guest.getByRole('textbox', { name: 'Message' }).fill('Hello from Chromium');
  await guest.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect
    .poll(() => overlay.$eval('::-p-aria(Messages[role="list"])', (list) => list.textContent ?? ''), {
      timeout: 15_000,
    })
    .toContain('Hello from Chromium');
});

test('hang up from the Firefox popup ends both sides', async () => {
  const popup = await openFirefoxPopup(ana, page);
  await popup.click('Hang up');
  await popup.waitForStatus(/Call ended/);
  await guest.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: 15_000 });
  await guest.getByText('Ana hung up.').waitFor();
  // The overlay leaves the page.
  await expect.poll(() => page.frames().length, { timeout: 15_000 }).toBe(1);
  expect(pageErrors).toEqual([]);
  expect(guestErrors).toEqual([]);
});
