/**
 * Files between two guest pages (two Chromium profiles, the real signaling server): drop,
 * thumbnail first, progress on both sides, verified bytes, safe names, cancel, a peer leaving.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  type CallPair,
  card,
  cardLog,
  dropTestFiles,
  incomingFileCount,
  joinCall,
  makeFiles,
  recordCards,
  sha256OfDownload,
} from './files-helpers.ts';
import { type BrowserUser, launchBrowser } from './harness.ts';

let server: ServerHandle;
let ana: BrowserUser;
let bo: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  [ana, bo] = await Promise.all([launchBrowser({ extension: false }), launchBrowser({ extension: false })]);
});

/** Join a fresh call, run the steps, and close both pages whatever happens. */
async function inCall(steps: (pair: CallPair) => Promise<void>): Promise<void> {
  const pair = await joinCall(server.url, ana.context, bo.context);
  try {
    await steps(pair);
  } finally {
    await pair.a.close().catch(() => {});
    await pair.b.close().catch(() => {});
  }
}

afterAll(async () => {
  await ana?.close();
  await bo?.close();
  await server?.stop();
});

test('three dropped files arrive verified: thumbnail first, progress on both sides, safe names; Open, drop target, paste', async () => {
  await inCall(async ({ a, b }) => {
    await recordCards(a);
    await recordCards(b);
    const originals = await makeFiles(a, [
      { kind: 'jpeg', name: 'photo.jpg', width: 4000, height: 3000 },
      { kind: 'empty', name: 'empty.bin' },
      { kind: 'random', name: '../<b>x</b>.bin', size: 50 * 1024 * 1024 },
    ]);
    await dropTestFiles(a);

    const saved = {
      'photo.jpg': 'photo.jpg',
      'empty.bin': 'empty.bin',
      '../<b>x</b>.bin': 'b_x_b_.bin',
    } as const;
    for (const [original, shown] of Object.entries(saved)) {
      await expect.poll(() => card(b, shown).getAttribute('data-state'), { timeout: 90_000 }).toBe('done');
      // The sender's own card keeps the name as the sender's file has it.
      await expect.poll(() => card(a, original).getAttribute('data-state'), { timeout: 10_000 }).toBe('done');
    }
    await expect(
      card(b, 'photo.jpg').getByRole('img', { name: 'Preview of photo.jpg' }).isVisible(),
    ).resolves.toBe(true);

    const logB = await cardLog(b);
    const logA = await cardLog(a);
    // The receiver saw the photo's thumbnail before its body completed.
    expect(logB['photo.jpg']!.thumbAt).toBeDefined();
    expect(logB['photo.jpg']!.thumbAt!).toBeLessThan(logB['photo.jpg']!.states.done!);
    // Both sides showed partial progress (percent, speed) for the big file.
    expect(logA['../<b>x</b>.bin']!.partial).toMatch(/^\d+%/);
    expect(logB['b_x_b_.bin']!.partial).toMatch(/^\d+%/);

    // Save each file: the bytes match the originals and the odd name is made safe.
    for (const [original, shown] of Object.entries(saved)) {
      const [download] = await Promise.all([
        b.waitForEvent('download'),
        card(b, shown).getByRole('button', { name: 'Save' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe(shown);
      expect(await sha256OfDownload(download)).toBe(originals[original]!.sha256);
    }
    // Open shows the photo inside the call UI (an <img>, nothing navigates or runs).
    await card(b, 'photo.jpg').getByRole('button', { name: 'Open' }).click();
    const viewer = b.getByRole('dialog', { name: 'photo.jpg' });
    await expect
      .poll(() =>
        viewer.getByRole('img', { name: 'photo.jpg' }).evaluate((img: HTMLImageElement) => img.naturalWidth),
      )
      .toBe(4000);
    await viewer.getByRole('button', { name: 'Close' }).click();
    expect(await viewer.count()).toBe(0);
    // A binary file has Save but no Open.
    expect(await card(b, 'b_x_b_.bin').getByRole('button', { name: 'Open' }).isVisible()).toBe(false);

    // Dragging files over the call shows where to drop them.
    await b.evaluate(() => {
      const dataTransfer = new DataTransfer();
      dataTransfer.items.add(new File(['x'], 'x.txt'));
      document
        .querySelector('.parley-app')!
        .dispatchEvent(new DragEvent('dragenter', { dataTransfer, bubbles: true, cancelable: true }));
    });
    await expect.poll(() => b.getByText('Drop to send to Ana').isVisible()).toBe(true);
    await b.evaluate(() => {
      const dataTransfer = new DataTransfer();
      dataTransfer.items.add(new File(['x'], 'x.txt'));
      document
        .querySelector('.parley-app')!
        .dispatchEvent(new DragEvent('dragleave', { dataTransfer, bubbles: true, cancelable: true }));
    });
    await expect.poll(() => b.getByText('Drop to send to Ana').isVisible()).toBe(false);

    // Pasting an image into the call sends it the other way.
    await b.evaluate(async () => {
      const canvas = new OffscreenCanvas(64, 48);
      canvas.getContext('2d')!.fillRect(0, 0, 32, 24);
      const clipboardData = new DataTransfer();
      clipboardData.items.add(new File([await canvas.convertToBlob()], 'pasted.png', { type: 'image/png' }));
      document.body.dispatchEvent(
        new ClipboardEvent('paste', { clipboardData, bubbles: true, cancelable: true }),
      );
    });
    await expect
      .poll(() => card(a, 'pasted.png').getAttribute('data-state'), { timeout: 30_000 })
      .toBe('done');

    // Nothing markup-like from the name became an element.
    expect(await b.locator('.parley-files-list b').count()).toBe(0);
    // The chat timeline says what arrived.
    await b.getByRole('button', { name: 'Chat' }).click();
    await expect.poll(() => b.getByText('Ana sent photo.jpg').count()).toBe(1);
  });
});

test('cancel from the receiver mid-transfer: both sides show cancelled and the sender stops', async () => {
  await inCall(async ({ a, b }) => {
    await makeFiles(a, [{ kind: 'random', name: 'big.bin', size: 300 * 1024 * 1024, hash: false }]);
    await dropTestFiles(a);
    await expect
      .poll(
        () =>
          card(b, 'big.bin')
            .locator('progress')
            .evaluate((p: HTMLProgressElement) => p.value),
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
    await card(b, 'big.bin').getByRole('button', { name: 'Cancel' }).click();
    await expect
      .poll(() => card(b, 'big.bin').locator('.parley-file-status').textContent())
      .toBe('Cancelled');
    await expect
      .poll(() => card(a, 'big.bin').locator('.parley-file-status').textContent())
      .toBe('Cancelled by Bo');
    // The sender stopped: its progress is frozen below 100% and nothing more is written on the receiver.
    expect(await card(a, 'big.bin').getAttribute('data-state')).toBe('cancelled');
    await expect.poll(() => incomingFileCount(b)).toBe(0);
  });
});

test('a peer closing its tab mid-transfer: the other side shows interrupted and keeps no partial file', async () => {
  await inCall(async ({ a, b }) => {
    await makeFiles(a, [{ kind: 'random', name: 'leaving.bin', size: 300 * 1024 * 1024, hash: false }]);
    await dropTestFiles(a);
    await expect
      .poll(
        () =>
          card(b, 'leaving.bin')
            .locator('progress')
            .evaluate((p: HTMLProgressElement) => p.value),
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
    expect(await incomingFileCount(b)).toBe(1);
    await a.close();
    await expect
      .poll(() => card(b, 'leaving.bin').getAttribute('data-state'), { timeout: 30_000 })
      .toBe('interrupted');
    await expect(card(b, 'leaving.bin').locator('.parley-file-status').textContent()).resolves.toMatch(
      /^Interrupted/,
    );
    await expect.poll(() => incomingFileCount(b)).toBe(0);
  });
});
