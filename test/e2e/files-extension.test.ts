/**
 * The extension overlay as the receiver: its iframe has no storage, so received files go in
 * byte arrays to the extension's offscreen document, which writes them to its own origin private
 * file system. Ana (extension, call started from the real popup) receives from Bo (guest).
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
import { type ExtensionUser, launchExtensionUser, overlayFrame, startCallFromPopup } from './popup-driver.ts';

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

test('files dropped by a guest arrive verified in the extension overlay, written by the offscreen document', async () => {
  const anaPage = await ana.context.newPage();
  await anaPage.goto(`${pages.url}/`);
  const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'audio' });
  const overlay = await overlayFrame(anaPage, ana.extensionId);

  const bo = await guest.context.newPage();
  await bo.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  await bo.goto(link);
  await bo.getByRole('textbox', { name: 'Your name' }).fill('Bo');
  await bo.getByRole('button', { name: 'Join call' }).click();
  await bo
    .getByRole('button', { name: 'Send files', exact: true })
    .and(bo.locator(':enabled'))
    .waitFor({ timeout: 30_000 });

  // Count the chunk bytes the overlay posts on MessagePorts: its direct channel to the writer
  // (the runtime port, the fallback, is not a MessagePort).
  await overlay.evaluate(() => {
    const scope = globalThis as unknown as { parleyChannelBytes: number };
    scope.parleyChannelBytes = 0;
    const post = MessagePort.prototype.postMessage as (this: MessagePort, ...args: unknown[]) => void;
    MessagePort.prototype.postMessage = function (this: MessagePort, ...args: unknown[]) {
      const message = args[0] as { op?: unknown; chunks?: unknown } | null;
      if (message?.op === 'write' && Array.isArray(message.chunks))
        for (const chunk of message.chunks as Uint8Array[]) scope.parleyChannelBytes += chunk.byteLength;
      post.apply(this, args);
    };
  });

  const originals = await makeFiles(bo, [
    { kind: 'jpeg', name: 'photo.jpg', width: 1600, height: 1200 },
    { kind: 'random', name: 'data.bin', size: 12 * 1024 * 1024 },
  ]);
  await dropTestFiles(bo);

  for (const name of ['photo.jpg', 'data.bin']) {
    await expect.poll(() => card(overlay, name).getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
    await expect.poll(() => card(bo, name).getAttribute('data-state'), { timeout: 10_000 }).toBe('done');
    const [download] = await Promise.all([
      anaPage.waitForEvent('download'),
      card(overlay, name).getByRole('button', { name: 'Save' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(name);
    expect(await sha256OfDownload(download)).toBe(originals[name]!.sha256);
  }
  expect(await card(overlay, 'photo.jpg').getByRole('img', { name: 'Preview of photo.jpg' }).count()).toBe(1);
  // The bytes went through the offscreen document (the overlay iframe cannot store anything),
  // every one of them on the direct channel, none on the runtime port.
  const targets = await ana.targets();
  expect(targets.some((t) => t.url.endsWith('/src/offscreen/offscreen.html'))).toBe(true);
  const channelBytes = await overlay.evaluate(
    () => (globalThis as unknown as { parleyChannelBytes: number }).parleyChannelBytes,
  );
  expect(channelBytes).toBe(originals['photo.jpg']!.size + originals['data.bin']!.size);
  await bo.close();
  await anaPage.close();
});
