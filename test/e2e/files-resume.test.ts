/**
 * A file transfer across a replaced connection: Bo (guest) sends a file to Ana (extension
 * overlay); mid-way Ana's page deletes her overlay, the content script puts it back, and the
 * new overlay connects to Bo on a new RTCPeerConnection (see extension-remount.test.ts). Bo's
 * link to Ana outlives the old connection (src/call/peer-link.ts): his card says "Paused:
 * reconnecting…", and on the new connection he offers the file again; the bytes the old
 * overlay received are in the extension's offscreen document, which kept the unfinished file
 * for the next overlay: the new one takes it over and Bo continues from there (counted: no
 * restart from 0), and the file Ana saves is byte-exact. Continuing from the receiver's offset
 * when both documents stay is proven with fakes in src/call/files/file-exchange.test.ts.
 * The other way round, Ana sending: the File she dropped is kept by the offscreen document
 * (the runtime port carries Files), so her new overlay continues sending it from the bytes Bo
 * has, which Bo counts. And when Ana navigates away, the call moves to its own window (see
 * extension-remount.test.ts): the window's document takes the file over the same way.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { card, dropTestFiles, makeFiles, sha256OfDownload } from './files-helpers.ts';
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
  counted,
  guestJoins,
  progressReaching,
  remountOverlay,
  sendFilesEnabled,
  showsCard,
} from './transfer-cut.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let guest: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, guest] = await Promise.all([launchExtensionUser(), launchBrowser({ extension: false })]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

test("a file in flight when the receiver's connection is replaced pauses, then arrives byte-exact on the new one", async () => {
  const { anaPage, overlay, link } = await anaStartsCall(ana, `${pages.url}/`, server.url);
  const bo = await guestJoins(guest.context, link, 'Bo', [COUNT_SENT]);
  await sendFilesEnabled(bo);
  // Bo's card states, as they come (a pause may be short).
  await bo.evaluate(() => {
    const w = window as unknown as { __states: string[] };
    w.__states = [];
    setInterval(() => {
      const status = document.querySelector('li.parley-file .parley-file-status')?.textContent ?? '';
      const state = document.querySelector<HTMLElement>('li.parley-file')?.dataset.state ?? '';
      const entry = `${state}: ${status.startsWith('Paused') ? status : ''}`;
      if (w.__states.at(-1) !== entry) w.__states.push(entry);
    }, 20);
  });

  const size = 64 * 1024 * 1024;
  /** Bo keeps at most this many bytes sent but not yet written on Ana's side (the exchange's default). */
  const maxInFlight = 16 * 1024 * 1024;
  const originals = await makeFiles(bo, [{ kind: 'random', name: 'movie.bin', size }]);
  await dropTestFiles(bo);
  // Cut once Ana has written well over what may be in flight, so that starting over would show.
  await card(overlay, 'movie.bin').waitFor({ timeout: 60_000 });
  const writtenAtCut = await progressReaching(overlay, maxInFlight + 8 * 1024 * 1024);
  expect(writtenAtCut).toBeLessThan(size);

  // Ana's page deletes the overlay; a new one comes back and connects again.
  const next = await remountOverlay(anaPage, overlay, ana.extensionId, showsCard('movie.bin'));
  await expect
    .poll(() => card(next, 'movie.bin').getAttribute('data-state'), { timeout: 120_000 })
    .toBe('done');
  await expect.poll(() => card(bo, 'movie.bin').getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
  expect(await bo.evaluate(() => (window as unknown as { __states: string[] }).__states)).toContain(
    'paused: Paused: reconnecting…',
  );
  const [download] = await Promise.all([
    anaPage.waitForEvent('download'),
    card(next, 'movie.bin').getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(originals['movie.bin']!.sha256);
  // The new overlay continued from what the old one had written: only what was in flight
  // was sent twice (starting over would have sent at least `writtenAtCut` twice).
  const sent = await counted(bo, '__bodyBytesSent');
  expect(sent).toBeGreaterThanOrEqual(size);
  expect(sent - size).toBeLessThanOrEqual(maxInFlight);
  expect(sent - size).toBeLessThan(writtenAtCut);
  await bo.close();
  await anaPage.close();
});

test("a file in flight when the sender's overlay is re-mounted continues from the receiver's bytes", async () => {
  const { anaPage, overlay, link } = await anaStartsCall(ana, `${pages.url}/`, server.url);
  const bo = await guestJoins(guest.context, link, 'Bo', [COUNT_RECEIVED]);
  await sendFilesEnabled(overlay);

  const size = 64 * 1024 * 1024;
  const maxInFlight = 16 * 1024 * 1024;
  const originals = await makeFiles(overlay, [{ kind: 'random', name: 'film.bin', size }]);
  await dropTestFiles(overlay);
  await card(bo, 'film.bin').waitFor({ timeout: 60_000 });
  const writtenAtCut = await progressReaching(bo, maxInFlight + 8 * 1024 * 1024);
  expect(writtenAtCut).toBeLessThan(size);

  // Ana's page deletes the overlay; the new one takes the File over and continues.
  const next = await remountOverlay(anaPage, overlay, ana.extensionId, showsCard('film.bin'));
  await expect.poll(() => card(bo, 'film.bin').getAttribute('data-state'), { timeout: 120_000 }).toBe('done');
  await expect
    .poll(() => card(next, 'film.bin').getAttribute('data-state'), { timeout: 30_000 })
    .toBe('done');
  const [download] = await Promise.all([
    bo.waitForEvent('download'),
    card(bo, 'film.bin').getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(originals['film.bin']!.sha256);
  // Continued from what Bo had written: only what was in flight came twice.
  const received = await counted(bo, '__bodyBytesReceived');
  expect(received).toBeGreaterThanOrEqual(size);
  expect(received - size).toBeLessThanOrEqual(maxInFlight);
  expect(received - size).toBeLessThan(writtenAtCut);
  await bo.close();
  await anaPage.close();
});

test('a file in flight when the call moves to its own window (Ana navigates away) continues from the bytes her overlay wrote', async () => {
  const { anaPage, overlay, link } = await anaStartsCall(ana, `${pages.url}/`, server.url);
  const bo = await guestJoins(guest.context, link, 'Bo', [COUNT_SENT]);
  await sendFilesEnabled(bo);

  const size = 64 * 1024 * 1024;
  const maxInFlight = 16 * 1024 * 1024;
  const originals = await makeFiles(bo, [{ kind: 'random', name: 'trip.bin', size }]);
  await dropTestFiles(bo);
  await card(overlay, 'trip.bin').waitFor({ timeout: 60_000 });
  const writtenAtCut = await progressReaching(overlay, maxInFlight + 8 * 1024 * 1024);
  expect(writtenAtCut).toBeLessThan(size);

  // Ana follows a link: her page, and the overlay with it, goes; the call goes on in its window.
  const windowOpened = ana.context.waitForEvent('page', {
    predicate: (p) => p.url().startsWith(`chrome-extension://${ana.extensionId}/src/overlay/window.html`),
    timeout: 30_000,
  });
  await anaPage.goto(`${pages.url}/?elsewhere`);
  const win = await windowOpened;
  await win.getByText('You left the page the call was on, so the call moved to its own window.').waitFor();
  await expect
    .poll(() => card(win, 'trip.bin').getAttribute('data-state'), { timeout: 120_000 })
    .toBe('done');
  await expect.poll(() => card(bo, 'trip.bin').getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
  const [download] = await Promise.all([
    win.waitForEvent('download'),
    card(win, 'trip.bin').getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(originals['trip.bin']!.sha256);
  // Continued from what the overlay had written: only what was in flight came twice.
  const sent = await counted(bo, '__bodyBytesSent');
  expect(sent).toBeGreaterThanOrEqual(size);
  expect(sent - size).toBeLessThanOrEqual(maxInFlight);
  expect(sent - size).toBeLessThan(writtenAtCut);
  await win.close();
  await bo.close();
  await anaPage.close();
});
