/**
 * "Send it again to continue": in a call of two (Ana and Bo, both on the guest page), Bo sends
 * Ana a 64 MiB file; mid-way his page reloads, so the File and everything his page knew are
 * gone (his new page comes back to the call by itself, under the same peer id, with no card:
 * guest-reload.test.ts). Ana's call goes on; she keeps the part she received and her card says
 * Bo can send it again; Bo sends her the same file: it continues from Ana's bytes (counted
 * over both of Bo's pages: less than the file plus what had reached Ana, so not started over)
 * and the file Ana saves is byte-exact. Other files and other people start from 0:
 * src/call/files/send-again.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { card, sha256OfDownload } from './files-helpers.ts';
import { type BrowserUser, launchBrowser } from './harness.ts';
import { COUNT_SENT, counted, joinAsGuest, sendFileTo } from './transfer-cut.ts';

let server: ServerHandle;
let ana: BrowserUser;
let bo: BrowserUser;
let folder: string;

beforeAll(async () => {
  server = await startServer();
  folder = await mkdtemp(join(tmpdir(), 'parley-send-again-'));
  [ana, bo] = await Promise.all([launchBrowser({ extension: false }), launchBrowser({ extension: false })]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await server?.stop();
  if (folder) await rm(folder, { recursive: true, force: true });
});

test("a file whose sender's page reloads mid-way continues from the receiver's bytes when he sends it again", async () => {
  const size = 64 * 1024 * 1024;
  /** Bo keeps at most this many bytes sent but not yet written on Ana's side (the exchange's default). */
  const maxInFlight = 16 * 1024 * 1024;
  const path = join(folder, 'movie.bin');
  const bytes = randomBytes(size);
  await writeFile(path, bytes);
  const original = createHash('sha256').update(bytes).digest('hex');

  const link = formatShareLink(newShareLink(server.url)).replace('#', '?media=audio#');
  const anaPage = await ana.context.newPage();
  const boPage = await bo.context.newPage();
  await boPage.addInitScript({ content: COUNT_SENT });
  for (const [page, name] of [
    [anaPage, 'Ana'],
    [boPage, 'Bo'],
  ] as const) {
    await page.goto(link);
    await joinAsGuest(page, name);
  }
  await boPage.getByRole('button', { name: 'People (2)' }).waitFor({ timeout: 60_000 });

  await sendFileTo(boPage, 'Ana', path, 1);
  const anaCard = card(anaPage, 'movie.bin');
  await anaCard.waitFor({ timeout: 60_000 });
  // Cut once Ana has written well over what may be in flight, so that starting over would show.
  const progress = anaCard.getByRole('progressbar');
  await expect
    .poll(async () => Number(await progress.getAttribute('value')), { timeout: 90_000, interval: 20 })
    .toBeGreaterThan(maxInFlight + 8 * 1024 * 1024);
  const writtenAtCut = Number(await progress.getAttribute('value'));
  expect(writtenAtCut).toBeLessThan(size);

  // Bo's page reloads: his File and his card are gone; his page is back in the call by itself.
  // Ana's call goes on, and she keeps what she has.
  await boPage.reload();
  await anaCard.getByText('Paused: Bo can send it again to continue.').waitFor({ timeout: 60_000 });
  expect(await anaCard.getAttribute('data-state')).toBe('paused');
  expect(await anaPage.getByRole('heading', { name: /Call ended|Connection lost/ }).count()).toBe(0);

  // He sends her the same file again.
  expect(await boPage.getByRole('textbox', { name: 'Your name' }).count()).toBe(0);
  expect(await card(boPage, 'movie.bin').count()).toBe(0);
  await sendFileTo(boPage, 'Ana', path, 1);

  await expect.poll(() => anaCard.getAttribute('data-state'), { timeout: 120_000 }).toBe('done');
  await expect
    .poll(() => card(boPage, 'movie.bin').getAttribute('data-state'), { timeout: 30_000 })
    .toBe('done');
  expect(await anaCard.count()).toBe(1);
  const [download] = await Promise.all([
    anaPage.waitForEvent('download'),
    anaCard.getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(original);
  // Continued from Ana's bytes: over both of Bo's pages, only what was in flight when the
  // first went was sent twice (starting over would have sent at least `writtenAtCut` twice).
  const sent = await counted(boPage, '__tabBodyBytesSent');
  expect(sent).toBeGreaterThanOrEqual(size);
  expect(sent).toBeLessThan(size + writtenAtCut);
  // The sender may pass the in-flight cap by the one frame (at most 256 KiB) it was taking.
  expect(sent - size).toBeLessThanOrEqual(maxInFlight + 256 * 1024);
  await Promise.all([boPage.close(), anaPage.close()]);
});
