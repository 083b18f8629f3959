/**
 * Files that cannot finish for reasons of storage, between two guest pages (real server, two
 * Chromium profiles): the receiver's storage fills up mid-transfer (its origin's quota lowered
 * through DevTools' Storage.overrideQuotaForOrigin, which the origin private file system
 * enforces on every write), and the sender's file changes on disk while it is being sent
 * (picked with the real file chooser, then appended to). The refusal before any byte when
 * `navigator.storage.estimate` reports too little room is covered by
 * src/call/files/file-exchange.test.ts. Each ends with its sentence on both cards, no partial file left on the receiver, and the
 * call going on: a small file sent afterwards arrives verified.
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  type CallPair,
  card,
  dropTestFiles,
  incomingFileCount,
  joinCall,
  makeFiles,
} from './files-helpers.ts';
import { type BrowserUser, launchBrowser } from './harness.ts';

let server: ServerHandle;
let ana: BrowserUser;
let bo: BrowserUser;
let folder: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  server = await startServer();
  folder = await mkdtemp(join(tmpdir(), 'parley-files-storage-'));
  [ana, bo] = await Promise.all([launchBrowser({ extension: false }), launchBrowser({ extension: false })]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await server?.stop();
  if (folder) await rm(folder, { recursive: true, force: true });
});

/** Join a fresh call (Ana receives, Bo sends), run the steps, close both pages whatever happens. */
async function inCall(steps: (pair: CallPair) => Promise<void>): Promise<void> {
  const pair = await joinCall(server.url, ana.context, bo.context);
  try {
    await steps(pair);
  } finally {
    await pair.a.close().catch(() => {});
    await pair.b.close().catch(() => {});
  }
}

/**
 * Set the storage quota of the page's origin; the returned function resets it. The DevTools
 * session stays attached meanwhile (Chromium drops the override when it detaches).
 */
async function setQuota(page: Page, bytes: number): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(page.url()).origin;
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: bytes });
  return async () => {
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await cdp.detach();
  };
}

const state = (page: Page, name: string) => card(page, name).getAttribute('data-state');
const status = (page: Page, name: string) => card(page, name).locator('.parley-file-status').textContent();
const written = (page: Page, name: string) =>
  card(page, name)
    .locator('progress')
    .evaluate((p: HTMLProgressElement) => p.value);

/** The call goes on: a small file from Bo arrives verified. */
async function stillInCall(anaPage: Page, boPage: Page, name: string): Promise<void> {
  await makeFiles(boPage, [{ kind: 'random', name, size: 64 * 1024 }]);
  await dropTestFiles(boPage);
  await expect.poll(() => state(anaPage, name), { timeout: 60_000 }).toBe('done');
}

test('the receiver runs out of space mid-transfer: both sides say so, no partial file, the call goes on', async () => {
  await inCall(async ({ a: anaPage, b: boPage }) => {
    // Ana's storage takes 8 MiB more (navigator.storage.estimate does not show this override,
    // so the check before the transfer passes, as it would for a disk filled by another program).
    const resetQuota = await setQuota(anaPage, 8 * MiB);
    await makeFiles(boPage, [{ kind: 'random', name: 'big.bin', size: 48 * MiB, hash: false }]);
    await dropTestFiles(boPage);
    await expect.poll(() => state(anaPage, 'big.bin'), { timeout: 60_000 }).toBe('failed');
    expect(await status(anaPage, 'big.bin')).toBe('The disk is full: the file could not be saved.');
    await expect.poll(() => state(boPage, 'big.bin'), { timeout: 30_000 }).toBe('failed');
    expect(await status(boPage, 'big.bin')).toBe('Ana does not have enough free space for this file.');
    await expect.poll(() => incomingFileCount(anaPage), { timeout: 10_000 }).toBe(0);

    await resetQuota();
    await stillInCall(anaPage, boPage, 'after-full.bin');
  });
});

test('the file changes on disk while it is being sent: both sides say so, no partial file, the call goes on', async () => {
  const path = join(folder, 'draft.bin');
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  await writeFile(path, Buffer.concat(Array.from({ length: 64 }, () => block)));
  await inCall(async ({ a: anaPage, b: boPage }) => {
    const [chooser] = await Promise.all([
      boPage.waitForEvent('filechooser'),
      boPage.getByRole('button', { name: 'Send files', exact: true }).click(),
    ]);
    await chooser.setFiles(path);
    await expect
      .poll(() => written(anaPage, 'draft.bin'), { timeout: 60_000, interval: 50 })
      .toBeGreaterThan(0);
    // Saved again by the program that made it: longer now.
    await appendFile(path, block);
    await expect.poll(() => state(boPage, 'draft.bin'), { timeout: 60_000 }).toBe('failed');
    expect(await status(boPage, 'draft.bin')).toBe(
      'The file could not be read any more (was it moved or changed?).',
    );
    await expect.poll(() => state(anaPage, 'draft.bin'), { timeout: 30_000 }).toBe('failed');
    expect(await status(anaPage, 'draft.bin')).toBe(
      'Bo could not read the file any more (was it moved or changed?).',
    );
    await expect.poll(() => incomingFileCount(anaPage), { timeout: 10_000 }).toBe(0);
    await stillInCall(anaPage, boPage, 'after-change.bin');
  });
});
