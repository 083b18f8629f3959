/**
 * The extension overlay as one of four people: Ana starts a call from her popup on an ordinary
 * page, three guests join by the link (contexts of one Chromium, fake cameras scaled down to
 * 160×120 at 10 fps so that four fit on 2 cores). Ana's small overlay shows the three in
 * speaker view (one big, the others in a strip), each video playing (frames counted) with its
 * name; **Grid** and **Speaker** switch the layout; every guest sees the three others,
 * Ana's overlay among them; when Ana hangs up, the three go on without her.
 */
import type { Browser, Frame, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  CHROME_FLAGS,
  chromePath,
  collectConsoleErrors,
  ORDINARY_PAGE,
  type PageServer,
  SMALL_CAMERA,
  screenshot,
  seesVideos,
  startPageServer,
  TINY_CAMERA,
} from './harness.ts';
import { type ExtensionUser, launchExtensionUser, overlayFrame, startCallFromPopup } from './popup-driver.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, browser] = await Promise.all([
    launchExtensionUser(),
    chromium.launch({
      executablePath: chromePath(),
      headless: true,
      args: ['--headless=new', ...CHROME_FLAGS],
      ignoreDefaultArgs: ['--mute-audio'],
    }),
  ]);
  await ana.context.addInitScript(SMALL_CAMERA, TINY_CAMERA);
});

afterAll(async () => {
  await Promise.all([ana?.close(), browser?.close().catch(() => {})]);
  await pages?.close();
  await server?.stop();
});

interface Guest {
  name: string;
  page: Page;
  errors: string[];
}

async function joinAsGuest(url: string, name: string): Promise<Guest> {
  const context = await browser.newContext({
    viewport: { width: 960, height: 640 },
    permissions: ['camera', 'microphone'],
  });
  await context.addInitScript(SMALL_CAMERA, TINY_CAMERA);
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const errors = collectConsoleErrors(page);
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  return { name, page, errors };
}

const tileNames = (target: Page | Frame) =>
  target
    .locator('.parley-tile[data-source="camera"] .parley-tile-name')
    .allTextContents()
    .then((names) => names.sort());

const layoutOf = (overlay: Frame) => overlay.locator('.parley-tiles').getAttribute('data-layout');

test('the extension overlay as one of four: speaker view in the small overlay, Grid and Speaker, everyone sees everyone', {
  timeout: 300_000,
}, async () => {
  const anaPage = await ana.context.newPage();
  await anaPage.goto(`${pages.url}/`);
  const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'video' });
  const overlay = await overlayFrame(anaPage, ana.extensionId);
  const guests: Guest[] = [];
  try {
    for (const name of ['Bruno', 'Chen', 'Dana']) {
      guests.push(await joinAsGuest(link, name));
      // One at a time, as people do. (The small overlay shows People (N) from three people on.)
      await expect
        .poll(() => overlay.locator('.parley-tile[data-source="camera"]').count(), { timeout: 60_000 })
        .toBe(guests.length);
    }
    await Promise.all([seesVideos(overlay, 3), ...guests.map((g) => seesVideos(g.page, 3))]);
    expect(await tileNames(overlay)).toEqual(['Bruno', 'Chen', 'Dana']);
    await overlay.getByRole('button', { name: 'People (4)' }).waitFor();
    for (const g of guests) {
      expect(await tileNames(g.page)).toEqual(['Ana', 'Bruno', 'Chen', 'Dana'].filter((n) => n !== g.name));
    }

    // The small overlay starts in speaker view: one tile big, the others beside it.
    const layout = overlay.getByRole('group', { name: 'Layout' });
    expect(await layoutOf(overlay)).toBe('speaker');
    expect(await layout.getByRole('button', { name: 'Speaker' }).getAttribute('aria-pressed')).toBe('true');
    expect(await overlay.locator('.parley-tile.is-big').count()).toBe(1);
    await screenshot(anaPage, 'group-overlay-speaker');

    // Grid, by keyboard as well as by click; then back to Speaker.
    await layout.getByRole('button', { name: 'Grid' }).focus();
    await overlay.page().keyboard.press('Enter');
    await expect.poll(() => layoutOf(overlay)).toBe('grid');
    expect(await layout.getByRole('button', { name: 'Grid' }).getAttribute('aria-pressed')).toBe('true');
    expect(await overlay.locator('.parley-tile.is-big').count()).toBe(0);
    await seesVideos(overlay, 3, 'grid');
    await screenshot(anaPage, 'group-overlay-grid');
    await layout.getByRole('button', { name: 'Speaker' }).click();
    await expect.poll(() => layoutOf(overlay)).toBe('speaker');

    // Ana hangs up: the three go on without her.
    await overlay.getByRole('button', { name: 'Hang up' }).click();
    for (const g of guests) {
      await expect
        .poll(() => g.page.locator('.parley-tile[data-source="camera"]').count(), { timeout: 20_000 })
        .toBe(2);
      expect(await g.page.getByRole('heading', { name: /Call ended|Connection lost/ }).count()).toBe(0);
    }
    await Promise.all(guests.map((g) => seesVideos(g.page, 2, 'after Ana')));
    for (const g of guests) expect(g.errors).toEqual([]);
  } catch (err) {
    const dump = (t: Page | Frame) =>
      t.evaluate(() =>
        [...document.querySelectorAll('.parley-tile')].map(
          (e) => `${(e as HTMLElement).dataset.source}:${e.getAttribute('aria-label')}:${e.className}`,
        ),
      );
    console.log('[group-overlay] Ana tiles', await dump(overlay).catch(() => []));
    for (const g of guests)
      console.log(`[group-overlay] ${g.name} tiles`, await dump(g.page).catch(() => []));
    await screenshot(anaPage, 'group-overlay-failed').catch(() => {});
    for (const g of guests) await screenshot(g.page, `group-overlay-${g.name}`).catch(() => {});
    throw err;
  }
});
