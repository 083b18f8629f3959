/**
 * A guest page that reloads in a call of two (two Chromium profiles, the real server): it
 * comes back to the same call by itself, without asking for a name again, and the other
 * person sees it reconnecting, never "Call ended"; video flows both ways again. Hang up still
 * ends the call for both at once (and a reload after it asks for the name), and closing the
 * tab still ends the other side's call, once the page has had its moment to come back.
 * (A file sent from a page that reloads: files-send-again.test.ts.)
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  type BrowserUser,
  collectConsoleErrors,
  launchBrowser,
  SMALL_CAMERA,
  seesVideos,
  TINY_CAMERA,
} from './harness.ts';

/**
 * Runs in every document: records whether the page ever showed an end screen, the name field,
 * or the call's "Reconnecting…" line (a moment's state a poll could miss).
 */
const WATCH = () => {
  const w = window as unknown as { __seen: { ended: boolean; askedName: boolean; reconnecting: boolean } };
  w.__seen = { ended: false, askedName: false, reconnecting: false };
  const scan = () => {
    const end = document.querySelector<HTMLElement>('.parley-end');
    if (end && !end.hidden) w.__seen.ended = true;
    if (document.getElementById('guest-name')) w.__seen.askedName = true;
    if (document.body?.textContent?.includes('Connection interrupted. Reconnecting…'))
      w.__seen.reconnecting = true;
  };
  new MutationObserver(scan).observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
  });
};

type Seen = { ended: boolean; askedName: boolean; reconnecting: boolean };
const seen = (page: Page) => page.evaluate(() => (window as unknown as { __seen: Seen }).__seen);

let server: ServerHandle;
let ana: BrowserUser;
let bo: BrowserUser;

beforeAll(async () => {
  server = await startServer({ ROOM_CAPACITY: '2' });
  [ana, bo] = await Promise.all([launchBrowser({ extension: false }), launchBrowser({ extension: false })]);
  for (const user of [ana, bo]) {
    await user.context.addInitScript(SMALL_CAMERA, TINY_CAMERA);
    await user.context.addInitScript(WATCH);
  }
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await server?.stop();
});

async function join(user: BrowserUser, url: string, name: string, camera = true) {
  const page = await user.context.newPage();
  page.setDefaultTimeout(60_000);
  const errors = collectConsoleErrors(page);
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  if (!camera) await page.getByRole('checkbox', { name: 'Join with camera' }).uncheck();
  await page.getByRole('button', { name: 'Join call' }).click();
  return { page, errors };
}

describe('a guest page that reloads in a call of two', () => {
  test('comes back by itself: the other side never ends the call, video flows both ways again, no name asked', async () => {
    const url = formatShareLink(newShareLink(server.url));
    const a = await join(ana, url, 'Ana');
    await a.page.getByText('Waiting for someone to join').waitFor();
    const b = await join(bo, url, 'Bo');
    await Promise.all([seesVideos(a.page, 1, 'before'), seesVideos(b.page, 1, 'before')]);
    await a.page.locator('.parley-tile-name', { hasText: 'Bo' }).waitFor();

    const reloadAt = Date.now();
    await b.page.reload();
    // The new page is in the call without the name card.
    await b.page.getByRole('button', { name: 'Hang up' }).waitFor();
    // Frames counted from here on come from Bo's new page (his old one is gone), both ways.
    await Promise.all([seesVideos(a.page, 1, 'after reload'), seesVideos(b.page, 1, 'after reload')]);
    // How long is for the record only (not asserted).
    console.log(`reload: video both ways again ${Date.now() - reloadAt} ms after Bo's reload began`);
    expect(await seen(b.page)).toMatchObject({ askedName: false, ended: false });
    // Ana saw Bo reconnecting, in the same tile, and never an end screen.
    expect(await seen(a.page)).toMatchObject({ reconnecting: true, ended: false });
    expect(await a.page.locator('.parley-tile[data-source="camera"]').count()).toBe(1);
    await a.page.locator('.parley-tile-name', { hasText: 'Bo' }).waitFor();
    await b.page.locator('.parley-tile-name', { hasText: 'Ana' }).waitFor();
    expect(await a.page.getByRole('button', { name: 'People (2)' }).count()).toBe(1);

    // Hang up still ends it for both at once.
    await b.page.getByRole('button', { name: 'Hang up' }).click();
    await a.page.getByRole('heading', { name: 'Call ended' }).waitFor();
    await a.page.getByText('Bo hung up.').waitFor();
    // And after hanging up, this tab no longer holds a place: a reload asks for the name.
    await b.page.reload();
    await b.page.getByRole('textbox', { name: 'Your name' }).waitFor();
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
    await Promise.all([a.page.close(), b.page.close()]);
  });

  test('closing the tab after a reload still ends the call on the other side', async () => {
    const url = formatShareLink(newShareLink(server.url));
    const a = await join(ana, url, 'Ana', false);
    await a.page.getByText('Waiting for someone to join').waitFor();
    const b = await join(bo, url, 'Bo', false);
    await b.page.getByRole('img', { name: /^Connection (good|fair|poor)/ }).waitFor();
    await b.page.reload();
    // Back in the call (his new page's own connection indicator).
    await b.page.getByRole('img', { name: /^Connection (good|fair|poor)/ }).waitFor();
    expect(await seen(b.page)).toMatchObject({ askedName: false });
    // As a person closing the tab: the page's beforeunload and pagehide run.
    await b.page.close({ runBeforeUnload: true });
    await a.page.getByRole('heading', { name: 'Connection lost' }).waitFor();
    await a.page.getByRole('button', { name: 'Close' }).click();
    await a.page.getByText('You left the call. You can close this tab.').waitFor();
    expect(a.errors).toEqual([]);
    await a.page.close();
  });
});
