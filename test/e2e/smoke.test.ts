/**
 * The first end-to-end check: the built extension loads in real Chromium with its service
 * worker running, and the guest page the server serves at a share link loads cleanly.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { type BrowserUser, collectConsoleErrors, expectVideoPlaying, launchBrowser } from './harness.ts';

let server: ServerHandle;
let user: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  user = await launchBrowser({ extension: 'dist' });
});

afterAll(async () => {
  await user?.close();
  await server?.stop();
});

test('the built extension loads and its service worker answers', async () => {
  expect(user.extensionId).toMatch(/^[a-p]{32}$/);
  const manifest = await user.serviceWorker!.evaluate(() => chrome.runtime.getManifest());
  expect(manifest.name).toBe('Parley');
  expect(manifest.manifest_version).toBe(3);
});

test('the guest page at a share link loads without console errors and offers to join', async () => {
  const page = await user.context.newPage();
  const errors = collectConsoleErrors(page);
  const link = formatShareLink(newShareLink(server.url));
  const response = await page.goto(link);
  expect(response?.status()).toBe(200);
  await expect.poll(() => page.title()).toMatch(/Parley/);
  await page.getByRole('button', { name: /join/i }).first().waitFor({ timeout: 10_000 });
  // Before joining, the guest already sees their own camera (the pre-join preview).
  await expectVideoPlaying(page, 'video[aria-label="Your camera preview"]');
  expect(errors).toEqual([]);
  await page.close();
});
