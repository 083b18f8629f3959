/**
 * A team room as people use it: Ana makes "Design team" in her real popup (extension profile,
 * real server), copies its link and joins it; Bo opens the link as a guest and the popup says
 * "2 in the call"; both leave and the popup says "Nobody in the call". An hour later (the
 * clock moved on by an hour in Bo's page, Ana's service worker and popup) Bo opens the same
 * link and Ana joins again from her popup: nothing in the link or in storage expired, and the
 * video plays both ways (frames counted with requestVideoFrameCallback).
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseShareLink } from '../../src/protocol/link.ts';
import { isTeamRoomId } from '../../src/protocol/team-room.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  type BrowserUser,
  launchBrowser,
  ORDINARY_PAGE,
  type PageServer,
  readClipboard,
  SMALL_CAMERA,
  seesVideos,
  startPageServer,
  TINY_CAMERA,
} from './harness.ts';
import { configurePopup, type ExtensionUser, launchExtensionUser, overlayFrame } from './popup-driver.ts';

const HOUR_MS = 3_600_000;

/** Moves this realm's clock (Date.now and new Date()) on by `ms`, like an hour passing. */
const SHIFT_CLOCK = (ms: number) => {
  const RealDate = Date;
  const now = () => RealDate.now() + ms;
  class ShiftedDate extends RealDate {
    constructor(...args: ConstructorParameters<DateConstructor> | []) {
      if (args.length === 0) super(now());
      else super(...(args as ConstructorParameters<DateConstructor>));
    }
    static override now(): number {
      return now();
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
};
const shiftScript = (ms: number) => `(${SHIFT_CLOCK.toString()})(${ms})`;

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let guest: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, guest] = await Promise.all([launchExtensionUser(), launchBrowser()]);
  await Promise.all([ana, guest].map((user) => user.context.addInitScript(SMALL_CAMERA, TINY_CAMERA)));
});

afterAll(async () => {
  await Promise.all([ana?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

async function guestJoins(link: string, name: string, clockShiftMs = 0): Promise<Page> {
  const page = await guest.context.newPage();
  page.setDefaultTimeout(60_000);
  if (clockShiftMs !== 0) await page.addInitScript({ content: shiftScript(clockShiftMs) });
  await page.goto(link);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  return page;
}

describe('a team room', () => {
  it('is made in the popup, joined by its link, left empty, and joined again an hour later', async () => {
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    let popup = await ana.openPopup(anaPage);
    await configurePopup(popup, { server: server.url, name: 'Ana' });
    await popup.fill('Name of a new team room', 'Design team');
    await popup.click('New team room');
    await popup.waitForStatus(/Design team is ready/);
    await popup.waitForText(/Nobody in the call/, 30_000);
    await popup.click('Copy link of Design team');
    await popup.waitForStatus(/Link of Design team copied/);
    const link = await readClipboard(anaPage);
    const parsed = parseShareLink(link);
    expect(parsed?.server).toBe(server.url);
    expect(isTeamRoomId(parsed?.room ?? '')).toBe(true);

    // Ana joins from the popup; Bo opens the link as a guest.
    await popup.click('Join Design team');
    await popup.waitForStatus(/Joining the call/);
    const overlay = await overlayFrame(anaPage, ana.extensionId, 30_000);
    const bo = await guestJoins(link, 'Bo');
    await Promise.all([seesVideos(overlay, 1), seesVideos(bo, 1)]);
    await popup.waitForText(/2 in the call/, 30_000);

    // Both leave: the room is empty.
    await popup.click('Hang up');
    await popup.waitForStatus(/Call ended/);
    await bo.close();
    await popup.waitForText(/Nobody in the call/, 30_000);
    await popup.close();

    // An hour later, for Bo's page and Ana's extension: the same link and the stored room.
    const sw = await ana.serviceWorker();
    await sw.evaluate(shiftScript(HOUR_MS));
    const boAgain = await guestJoins(link, 'Bo', HOUR_MS);
    expect(await boAgain.evaluate((h) => Date.now() - h > performance.timeOrigin, HOUR_MS - 60_000)).toBe(
      true,
    );
    popup = await ana.openPopup(anaPage);
    await popup.evaluate(shiftScript(HOUR_MS));
    await popup.waitForText(/1 in the call/, 30_000);
    await popup.click('Join Design team');
    await popup.waitForStatus(/Joining the call/);
    const overlayAgain = await overlayFrame(anaPage, ana.extensionId, 30_000);
    await Promise.all([seesVideos(overlayAgain, 1), seesVideos(boAgain, 1)]);
    await popup.waitForText(/2 in the call/, 30_000);

    // Rename and Remove change this browser's list only.
    await popup.click('Rename Design team');
    await popup.fill('New name for Design team', 'Product team');
    await popup.click('Save name');
    await popup.waitForStatus(/Renamed to Product team/);
    await popup.click('Copy link of Product team');
    await popup.waitForStatus(/Link of Product team copied/);
    await popup.close();
    await anaPage.bringToFront();
    expect(await readClipboard(anaPage)).toBe(link);
    popup = await ana.openPopup(anaPage);
    await popup.click('Remove Product team');
    await popup.waitForText(/A team room keeps one link/);
    expect(await popup.isVisible('Join Product team')).toBe(false);
    await popup.close();
  }, 300_000);
});
