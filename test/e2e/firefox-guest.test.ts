/**
 * The guest page in Firefox: Ana opens a share link in Debian's firefox-esr (driven over
 * WebDriver BiDi, fake camera and mic), Bruno joins from Chromium; both see video (frames
 * counted on both sides), chat goes both ways, and hanging up in Firefox ends both. And a
 * Firefox that is missing or cannot start fails the test with the command to install it.
 */
import type { Page as FirefoxPage } from 'puppeteer-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  collectFirefoxErrors,
  type FirefoxUser,
  firefoxFramesAdvance,
  launchFirefox,
} from './firefox-harness.ts';
import { type BrowserUser, collectConsoleErrors, launchBrowser } from './harness.ts';

let server: ServerHandle;
let ana: FirefoxUser;
let bruno: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  [ana, bruno] = await Promise.all([launchFirefox(), launchBrowser({ extension: false })]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bruno?.close()]);
  await server?.stop();
});

/** The chat's text, so a test can wait for a line by what a person reads. */
const messagesText = (page: FirefoxPage) =>
  page.$eval('::-p-aria(Messages[role="list"])', (list) => list.textContent ?? '');

test('a guest in Firefox calls a guest in Chromium: video both ways, chat both ways, hang up ends both', async () => {
  const url = formatShareLink(newShareLink(server.url));
  const a = await ana.newPage();
  const aErrors = collectFirefoxErrors(a);
  await a.goto(url);
  await a.locator('::-p-aria(Your name[role="textbox"])').fill('Ana');
  await a.locator('::-p-aria(Join call[role="button"])').click();
  await a.locator('::-p-text(Waiting for someone to join)').wait();

  const b = await bruno.context.newPage();
  const bErrors = collectConsoleErrors(b);
  await b.goto(url);
  await b.getByRole('textbox', { name: 'Your name' }).fill('Bruno');
  await b.getByRole('button', { name: 'Join call' }).click();

  // Video both ways: new frames decoded and shown in each remote video.
  await a.waitForSelector('.parley-remote-video', { timeout: 30_000 });
  expect(await firefoxFramesAdvance(a, '.parley-remote-video', 5)).toBe(true);
  await b.locator('.parley-remote-video').waitFor({ timeout: 30_000 });
  expect(
    await b.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const v = document.querySelector('.parley-remote-video') as HTMLVideoElement;
          let n = 0;
          const tick = () => (++n >= 5 ? resolve(n) : v.requestVideoFrameCallback(tick));
          v.requestVideoFrameCallback(tick);
        }),
    ),
  ).toBe(5);
  await b.locator('.parley-tile-name', { hasText: 'Ana' }).waitFor();
  await a.locator('.parley-tile-name::-p-text(Bruno)').wait();

  // Chat both ways.
  await a.locator('::-p-aria(Chat[role="button"])').click();
  await a.locator('::-p-aria(Message[role="textbox"])').fill('Hello from Firefox');
  await a.keyboard.press('Enter');
  await b.getByRole('button', { name: 'Chat' }).click();
  await b.getByRole('list', { name: 'Messages' }).getByText('Hello from Firefox').waitFor();
  await b.getByRole('textbox', { name: 'Message' }).fill('Hello from Chromium');
  await b.getByRole('textbox', { name: 'Message' }).press('Enter');
  await expect.poll(() => messagesText(a), { timeout: 15_000 }).toContain('Hello from Chromium');

  // Hang up in Firefox ends both sides.
  await a.locator('::-p-aria(Hang up[role="button"])').click();
  await a.locator('::-p-aria(Call ended[role="heading"])').wait();
  await b.getByRole('heading', { name: 'Call ended' }).waitFor();
  await b.getByText('Ana hung up.').waitFor();
  expect(aErrors).toEqual([]);
  expect(bErrors).toEqual([]);
});

test('a Firefox that is missing or cannot start fails with the command to install it', async () => {
  const saved = process.env.FIREFOX_PATH;
  try {
    process.env.FIREFOX_PATH = '/nonexistent/firefox-esr';
    await expect(launchFirefox()).rejects.toThrow('sudo apt-get install firefox-esr');
    // An executable that is not a browser: the launch itself fails.
    process.env.FIREFOX_PATH = '/bin/false';
    await expect(launchFirefox()).rejects.toThrow('sudo apt-get install firefox-esr');
  } finally {
    if (saved === undefined) delete process.env.FIREFOX_PATH;
    else process.env.FIREFOX_PATH = saved;
  }
});
