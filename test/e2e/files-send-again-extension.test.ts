/**
 * "Send it again to continue" with the extension overlay (Chromium, the dist-e2e build), on
 * both sides of the file:
 *
 * - Ana's overlay receives. In a call of three (Ana, and Bo and Carla on the guest page, so
 *   the call goes on for Ana while Bo is away), Bo sends Ana a file; mid-way his page reloads
 *   (his File and his card are gone; his new page comes back to the call by itself, without
 *   the name card). Ana's overlay keeps the part it has (in the offscreen document's writer)
 *   and her card says Bo can send it again; he sends it to her again from the new page: it
 *   continues on the same card, his new page sends only
 *   the part Ana did not have (counted), and the file she saves is byte-exact.
 * - Ana's overlay sends. A re-mounted overlay or a call moved to its window needs no sending
 *   again in Chrome: the offscreen document keeps the File and the next document continues
 *   by itself (files-resume.test.ts). Sending again is for when that document lost it: here
 *   the service worker closes it (chrome.offscreen.closeDocument, a stand-in for Chrome
 *   closing it or its process dying) and the page then deletes the overlay. The new overlay
 *   has nothing to continue; Bo's card says Ana can send it again; she drops the same file
 *   (made again, byte for byte) on the new overlay: her offer carries the key from the
 *   secret in storage.session, so Bo continues from his bytes (counted) and saves it
 *   byte-exact.
 *
 * Other files and other people start from 0: src/call/files/send-again.test.ts. The guest
 * page on both sides: files-send-again.test.ts. The Firefox overlay (no offscreen document:
 * every re-mount loses the File): firefox-send-again.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { card, dropTestFiles, type FileSpec, makeFiles, sha256OfDownload } from './files-helpers.ts';
import {
  type BrowserUser,
  launchBrowser,
  ORDINARY_PAGE,
  type PageServer,
  startPageServer,
} from './harness.ts';
import { type ExtensionUser, launchExtensionUser } from './popup-driver.ts';
import {
  anaStartsCall,
  COUNT_RECEIVED,
  COUNT_SENT,
  canSendFiles,
  continuedFromKept,
  counted,
  guestJoins,
  progressReaching,
  remountOverlay,
  sendFilesEnabled,
  sendFileTo,
} from './transfer-cut.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let guest: BrowserUser;
let folder: string;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  folder = await mkdtemp(join(tmpdir(), 'parley-send-again-ext-'));
  [ana, guest] = await Promise.all([launchExtensionUser(), launchBrowser({ extension: false })]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
  if (folder) await rm(folder, { recursive: true, force: true });
});

const SIZE = 48 * 1024 * 1024;
/** The transfer is cut once the receiver has written this much (early: the rest must not arrive before the cut). */
const CUT_AT = 8 * 1024 * 1024;

/** What a file card's progress bar says the receiver has written. */
async function progressOf(target: Parameters<typeof card>[0], name: string): Promise<number> {
  return Number(await card(target, name).getByRole('progressbar').getAttribute('value'));
}

test("Ana's overlay keeps the part of a file whose guest sender's page reloaded, and continues it when he sends it again", async () => {
  const path = join(folder, 'movie.bin');
  const bytes = randomBytes(SIZE);
  await writeFile(path, bytes);
  const original = createHash('sha256').update(bytes).digest('hex');

  const { anaPage, overlay, link } = await anaStartsCall(ana, `${pages.url}/?receives`, server.url);
  const carla = await guestJoins(guest.context, link, 'Carla');
  const bo = await guestJoins(guest.context, link, 'Bo', [COUNT_SENT]);
  await bo.getByRole('button', { name: 'People (3)' }).waitFor({ timeout: 60_000 });

  await sendFileTo(bo, 'Ana', path);
  const anaCard = card(overlay, 'movie.bin');
  await anaCard.waitFor({ timeout: 60_000 });
  const writtenAtCut = await progressReaching(overlay, CUT_AT);
  expect(writtenAtCut).toBeLessThan(SIZE);

  // Bo's page reloads: his File and his card are gone; Ana's call goes on.
  await bo.reload();
  await anaCard.getByText('Paused: Bo can send it again to continue.').waitFor({ timeout: 60_000 });
  expect(await anaCard.getAttribute('data-state')).toBe('paused');
  const kept = await progressOf(overlay, 'movie.bin');
  expect(kept).toBeGreaterThanOrEqual(writtenAtCut);

  // His new page is back in the call by itself; he sends her the same file.
  expect(await bo.getByRole('textbox', { name: 'Your name' }).count()).toBe(0);
  expect(await card(bo, 'movie.bin').count()).toBe(0);
  await sendFileTo(bo, 'Ana', path);

  await expect.poll(() => card(bo, 'movie.bin').getAttribute('data-state'), { timeout: 90_000 }).toBe('done');
  // The same card went on (no second one), and nothing went to Carla.
  expect(await anaCard.count()).toBe(1);
  await expect.poll(() => anaCard.getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
  expect(await card(carla, 'movie.bin').count()).toBe(0);
  const [download] = await Promise.all([
    anaPage.waitForEvent('download'),
    anaCard.getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(original);
  // Continued from Ana's bytes: Bo's new page sent only the part she did not have (starting
  // over would have sent the whole file).
  const sentAgain = await counted(bo, '__bodyBytesSent');
  console.log(`receiving: Ana kept ${kept} of ${SIZE} bytes; Bo's new page sent ${sentAgain}`);
  expect(sentAgain).toBeGreaterThan(0);
  expect(sentAgain).toBeLessThanOrEqual(SIZE - kept);
  await Promise.all([bo.close(), carla.close(), anaPage.close()]);
});

test("Ana's overlay whose File was lost mid-way sends it again from the new overlay, and Bo continues from his bytes", async () => {
  const { anaPage, overlay, link } = await anaStartsCall(ana, `${pages.url}/?sends`, server.url);
  const bo = await guestJoins(guest.context, link, 'Bo', [COUNT_RECEIVED]);
  await sendFilesEnabled(overlay);

  // The same bytes each time they are made (in the old overlay, then in the new one).
  const film: FileSpec = { kind: 'seeded', name: 'film.bin', size: SIZE, seed: 0x5e4d };
  const original = (await makeFiles(overlay, [film]))['film.bin']!.sha256;
  await dropTestFiles(overlay);
  const boCard = card(bo, 'film.bin');
  await boCard.waitFor({ timeout: 60_000 });
  const writtenAtCut = await progressReaching(bo, CUT_AT);
  expect(writtenAtCut).toBeLessThan(SIZE);

  // The document that kept Ana's File goes, then the page deletes her overlay: the new
  // overlay comes back into the call with nothing to continue.
  const worker = await ana.serviceWorker();
  await worker.evaluate(() => chrome.offscreen.closeDocument());
  const next = await remountOverlay(anaPage, overlay, ana.extensionId, canSendFiles);
  await boCard.getByText('Paused: Ana can send it again to continue.').waitFor({ timeout: 60_000 });
  expect(await boCard.getAttribute('data-state')).toBe('paused');
  expect(await card(next, 'film.bin').count()).toBe(0);
  const kept = await progressOf(bo, 'film.bin');
  expect(kept).toBeGreaterThanOrEqual(writtenAtCut);
  const receivedBefore = await counted(bo, '__bodyBytesReceived');

  // She drops the same file again on the new overlay.
  expect((await makeFiles(next, [film]))['film.bin']!.sha256).toBe(original);
  await dropTestFiles(next);

  await expect
    .poll(() => card(next, 'film.bin').getAttribute('data-state'), { timeout: 90_000 })
    .toBe('done');
  await continuedFromKept(bo, boCard, { original, size: SIZE, kept, receivedBefore, label: 'sending' });
  await Promise.all([bo.close(), anaPage.close()]);
});
