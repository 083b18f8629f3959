/**
 * "Send it again to continue" from the Firefox overlay (Debian's firefox-esr, the
 * dist-firefox-e2e build): Firefox has no offscreen document, so the File Ana dropped belongs
 * to her overlay's document and is gone when the page deletes the overlay mid-file (the
 * content script puts a new one back, which rejoins on the same link). Bo (Chromium guest)
 * keeps what he received and his card says Ana can send it again; she drops the same file
 * on the new overlay: her offer carries the key from the secret her background keeps,
 * so Bo continues from his bytes (counted) and the file he saves is byte-exact.
 * Chrome's side: files-send-again-extension.test.ts.
 */
import type { Page as ChromiumPage } from 'playwright-core';
import type { Page as FirefoxPage, Frame } from 'puppeteer-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { card, dropTestFiles, type FileSpec, makeFiles } from './files-helpers.ts';
import { type FirefoxUser, launchFirefox } from './firefox-harness.ts';
import { firefoxOverlayFrame, startFirefoxCall } from './firefox-popup.ts';
import {
  type BrowserUser,
  launchBrowser,
  ORDINARY_PAGE,
  type PageServer,
  startPageServer,
} from './harness.ts';
import { COUNT_RECEIVED, continuedFromKept, counted, guestJoins, progressReaching } from './transfer-cut.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: FirefoxUser;
let guest: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, guest] = await Promise.all([
    launchFirefox({ extension: 'dist-firefox-e2e' }),
    launchBrowser({ extension: false }),
  ]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

const SIZE = 48 * 1024 * 1024;
const CUT_AT = 8 * 1024 * 1024;

/** makeFiles and dropTestFiles only call `evaluate`, which a Firefox frame has too. */
const asPage = (frame: Frame) => frame as unknown as ChromiumPage;

/** The state of the file card named `name` in a Firefox overlay ('' when there is none). */
function stateIn(overlay: Frame, name: string): Promise<string> {
  return overlay.evaluate(
    (fileName) =>
      [...document.querySelectorAll<HTMLElement>('li.parley-file')].find(
        (li) => li.querySelector('.parley-file-name')?.textContent === fileName,
      )?.dataset.state ?? '',
    name,
  );
}

/** The overlay frame in `page` that is not `old` (the page deleted that one), once it can send files. */
async function newOverlay(page: FirefoxPage, old: Frame): Promise<Frame> {
  let found: Frame | undefined;
  await expect
    .poll(
      async () => {
        found = undefined;
        for (const frame of page.frames()) {
          if (frame === page.mainFrame() || frame === old) continue;
          const ready = await frame
            .evaluate(
              () =>
                location.protocol === 'moz-extension:' &&
                document.querySelector<HTMLButtonElement>('.parley-files-send')?.disabled === false,
            )
            .catch(() => false);
          if (ready) found = frame;
        }
        return found !== undefined;
      },
      { timeout: 60_000 },
    )
    .toBe(true);
  return found!;
}

test("the Firefox overlay's File is gone when the page deletes the overlay mid-file: Ana sends it again from the new overlay, and Bo continues from his bytes", async () => {
  const page = (await ana.browser.pages())[0] ?? (await ana.newPage());
  await page.goto(`${pages.url}/`);
  await startFirefoxCall(ana, page, { server: server.url, name: 'Ana', media: 'audio' });
  const overlay = await firefoxOverlayFrame(page);
  await overlay.waitForSelector('::-p-text(Waiting for someone to join)', { timeout: 20_000 });
  const link = await overlay.$eval('.parley-link-text', (el) => el.textContent ?? '');
  const bo = await guestJoins(guest.context, link, 'Bo', [COUNT_RECEIVED]);
  await overlay.waitForFunction(
    () => document.querySelector<HTMLButtonElement>('.parley-files-send')?.disabled === false,
    { timeout: 60_000 },
  );

  // The same bytes each time they are made (in the old overlay, then in the new one).
  const film: FileSpec = { kind: 'seeded', name: 'film.bin', size: SIZE, seed: 0xf1f0 };
  const original = (await makeFiles(asPage(overlay), [film]))['film.bin']!.sha256;
  await dropTestFiles(asPage(overlay));
  const boCard = card(bo, 'film.bin');
  await boCard.waitFor({ timeout: 60_000 });
  const writtenAtCut = await progressReaching(bo, CUT_AT);
  expect(writtenAtCut).toBeLessThan(SIZE);

  // The page deletes the overlay; the new one rejoins the call with nothing to continue.
  await page.evaluate(() => document.querySelector('parley-overlay')?.remove());
  const next = await newOverlay(page, overlay);
  await boCard
    .getByText('Paused: Ana can send it again to continue.')
    .waitFor({ timeout: 60_000 })
    .catch(async (error) => {
      console.log(`Bo's card: ${await boCard.innerText().catch(String)}`);
      throw error;
    });
  expect(await boCard.getAttribute('data-state')).toBe('paused');
  expect(await stateIn(next, 'film.bin')).toBe('');
  const kept = Number(await boCard.getByRole('progressbar').getAttribute('value'));
  expect(kept).toBeGreaterThanOrEqual(writtenAtCut);
  const receivedBefore = await counted(bo, '__bodyBytesReceived');

  // She drops the same file again on the new overlay.
  expect((await makeFiles(asPage(next), [film]))['film.bin']!.sha256).toBe(original);
  await dropTestFiles(asPage(next));

  await expect.poll(() => stateIn(next, 'film.bin'), { timeout: 90_000 }).toBe('done');
  await continuedFromKept(bo, boCard, {
    original,
    size: SIZE,
    kept,
    receivedBefore,
    label: 'firefox sending',
  });
  await bo.close();
});
