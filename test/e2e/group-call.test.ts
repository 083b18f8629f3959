/**
 * Group calls on the guest page: several people on one link, each in a context of its own
 * in one Chromium (real server with its default capacity, fake camera and microphone scaled
 * down to 160×120 at 10 fps so that five people fit on 2 cores). Everyone sees everyone's
 * video playing (frames counted with requestVideoFrameCallback) with their names; a fifth
 * person joins mid-call; one closes the tab and the others go on without them; chat and a
 * dropped file reach everyone, a file sent from one tile only that person; a screen shared
 * reaches the three others and Stop sharing takes it away from all; a seventh person
 * is told the call is full.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { card, dropTestFiles, makeFiles, sha256OfDownload } from './files-helpers.ts';
import {
  CHROME_FLAGS,
  chromePath,
  collectConsoleErrors,
  SMALL_CAMERA,
  screenshot,
  seesVideos,
  TINY_CAMERA,
} from './harness.ts';

let server: ServerHandle;
let browser: Browser;
const contexts: BrowserContext[] = [];
const t0 = Date.now();
const log = (what: string) => console.log(`[group] ${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);

beforeAll(async () => {
  server = await startServer();
  browser = await chromium.launch({
    executablePath: chromePath(),
    headless: true,
    args: ['--headless=new', ...CHROME_FLAGS],
    ignoreDefaultArgs: ['--mute-audio'],
  });
});

afterAll(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
});

interface Person {
  name: string;
  page: Page;
  errors: string[];
}

async function join(url: string, name: string): Promise<Person> {
  const context = await browser.newContext({
    viewport: { width: 960, height: 640 },
    permissions: ['camera', 'microphone'],
    acceptDownloads: true,
  });
  contexts.push(context);
  await context.addInitScript(SMALL_CAMERA, TINY_CAMERA);
  await context.addInitScript(COUNT_TILES);
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  // tsx names functions with a __name helper that pages lack (makeFiles runs in the page).
  await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  const errors = collectConsoleErrors(page);
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  return { name, page, errors };
}

/**
 * Logs every change in the number of camera tiles with its time, as the page's DOM changes
 * (`__tileCounts`): when a person saw someone go, by the page itself, however slowly this
 * process's polls reach a page of a loaded machine.
 */
const COUNT_TILES = () => {
  const counts: { at: number; count: number }[] = [];
  (window as unknown as { __tileCounts: typeof counts }).__tileCounts = counts;
  new MutationObserver(() => {
    const count = document.querySelectorAll('.parley-tile[data-source="camera"]').length;
    if (count !== counts.at(-1)?.count) counts.push({ at: Date.now(), count });
  }).observe(document, { subtree: true, childList: true });
};

const tileCounts = (page: Page) =>
  page.evaluate(() => (window as unknown as { __tileCounts: { at: number; count: number }[] }).__tileCounts);

/** Waits until `name`'s screen tile is there and its video presented a few new frames. */
async function seesScreen(page: Page, name: string, timeout = 90_000): Promise<void> {
  await page.getByRole('group', { name: `${name}'s screen` }).waitFor({ timeout });
  await page.waitForFunction(
    () => {
      type Counted = HTMLVideoElement & { __frames?: number };
      const v = document.querySelector<Counted>('.parley-tile[data-source="screen"] video');
      if (!v) return false;
      if (v.__frames === undefined) {
        v.__frames = 0;
        const tick = () => {
          v.__frames = (v.__frames ?? 0) + 1;
          v.requestVideoFrameCallback(tick);
        };
        v.requestVideoFrameCallback(tick);
      }
      return v.__frames >= 3;
    },
    undefined,
    { timeout, polling: 250 },
  );
}

const tileNames = (page: Page | Frame) =>
  page
    .locator('.parley-tile[data-source="camera"] .parley-tile-name')
    .allTextContents()
    .then((names) => names.sort());

const othersOf = (people: Person[], me: Person) =>
  people
    .filter((p) => p !== me)
    .map((p) => p.name)
    .sort();

const endScreens = (page: Page) =>
  page.getByRole('heading', { name: /Call ended|Connection lost|could not continue/ }).count();

describe('a group call on one link', () => {
  test('four see each other, a fifth joins, one leaves; chat and a file reach everyone, a file from a tile one, a shared screen the others', {
    // The steps' own waits on a loaded machine (the five-person step's 180 s among them).
    timeout: 600_000,
  }, async () => {
    const url = formatShareLink(newShareLink(server.url));
    const people: Person[] = [];
    for (const name of ['Ana', 'Bruno', 'Chen', 'Dana']) {
      people.push(await join(url, name));
      // One at a time, as people do; the next may come before the last one is connected.
      await people[0]!.page.getByRole('button', { name: `People (${people.length})` }).waitFor();
    }
    try {
      log('joined 4');
      await Promise.all(people.map((p) => seesVideos(p.page, 3).then(() => log(`${p.name} sees 3`))));
      for (const p of people) expect(await tileNames(p.page)).toEqual(othersOf(people, p));
      // Everyone is listed, you first.
      await people[1]!.page.getByRole('button', { name: 'People (4)' }).click();
      const list = people[1]!.page.getByRole('list', { name: 'People in the call' });
      expect(await list.getByRole('listitem').allTextContents()).toHaveLength(4);
      expect(await list.getByRole('listitem').first().textContent()).toContain('Bruno (you)');

      log('people list');
      // Chat reaches all three others.
      const [ana, ...rest] = people as [Person, ...Person[]];
      for (const p of people) await p.page.getByRole('button', { name: 'Chat' }).click();
      await ana.page.getByRole('textbox', { name: 'Message' }).fill('Hello everyone');
      await ana.page.getByRole('button', { name: 'Send', exact: true }).click();
      for (const p of rest) {
        await p.page
          .getByRole('list', { name: 'Messages' })
          .getByRole('listitem')
          .filter({ hasText: 'Hello everyone' })
          .waitFor({ timeout: 30_000 });
      }

      log('chat');
      // One dropped file goes to each of the three, byte-exact.
      const originals = await makeFiles(ana.page, [{ kind: 'random', name: 'notes.bin', size: 300_000 }]);
      await dropTestFiles(ana.page);
      for (const p of rest) {
        await expect
          .poll(() => card(p.page, 'notes.bin').getAttribute('data-state'), { timeout: 120_000 })
          .toBe('done');
        const [download] = await Promise.all([
          p.page.waitForEvent('download'),
          card(p.page, 'notes.bin').getByRole('button', { name: 'Save' }).click(),
        ]);
        expect(await sha256OfDownload(download)).toBe(originals['notes.bin']!.sha256);
      }
      // The sender has a card per recipient, each done once that recipient's check passed.
      for (const p of rest) {
        await expect
          .poll(
            () =>
              card(ana.page, 'notes.bin')
                .filter({ hasText: `Sent to ${p.name}` })
                .count(),
            {
              timeout: 30_000,
            },
          )
          .toBe(1);
      }
      expect(await card(ana.page, 'notes.bin').count()).toBe(3);

      log('files');
      // From Chen's tile, a file for Chen only: it reaches him byte-exact and nobody else.
      const [bruno, chen, danaHere] = rest as [Person, Person, Person];
      const forChen = randomBytes(200_000);
      const [chooser] = await Promise.all([
        ana.page.waitForEvent('filechooser'),
        ana.page.getByRole('button', { name: 'Send files to Chen' }).click(),
      ]);
      await chooser.setFiles({ name: 'for-chen.bin', mimeType: 'application/octet-stream', buffer: forChen });
      await expect
        .poll(() => card(chen.page, 'for-chen.bin').getAttribute('data-state'), { timeout: 120_000 })
        .toBe('done');
      const [download] = await Promise.all([
        chen.page.waitForEvent('download'),
        card(chen.page, 'for-chen.bin').getByRole('button', { name: 'Save' }).click(),
      ]);
      expect(await sha256OfDownload(download)).toBe(createHash('sha256').update(forChen).digest('hex'));
      await expect
        .poll(() => card(ana.page, 'for-chen.bin').getAttribute('data-state'), { timeout: 30_000 })
        .toBe('done');
      expect(await card(ana.page, 'for-chen.bin').count()).toBe(1);
      expect(await card(ana.page, 'for-chen.bin').textContent()).toContain('Sent to Chen');
      for (const p of [bruno, danaHere]) expect(await card(p.page, 'for-chen.bin').count()).toBe(0);

      log('file to one');
      // Chen shares his screen: the three others each see "Chen's screen" playing beside the
      // cameras (which keep playing); Stop sharing takes it away from all three.
      await chen.page.getByRole('button', { name: 'Share screen' }).click();
      await chen.page.getByText('You are sharing your screen').waitFor();
      const watchers = people.filter((p) => p !== chen);
      await Promise.all(
        watchers.map((p) => seesScreen(p.page, 'Chen').then(() => log(`${p.name} sees the share`))),
      );
      await Promise.all(watchers.map((p) => seesVideos(p.page, 3, 'during the share')));
      await chen.page.getByRole('button', { name: 'Stop sharing' }).click();
      for (const p of watchers) {
        await p.page
          .getByRole('group', { name: "Chen's screen" })
          .waitFor({ state: 'detached', timeout: 30_000 });
      }

      log('share');
      // A fifth person joins mid-call: everyone sees four.
      people.push(await join(url, 'Emil'));
      // 180 s, not the 90 s default: five people each decoding four videos on 2 cores took longer
      // than 90 s on a loaded machine (the full e2e run at load 25-53). How long is not asserted.
      await Promise.all(
        people.map((p) => seesVideos(p.page, 4, 'five', 180_000).then(() => log(`${p.name} sees 4`))),
      );
      for (const p of people) expect(await tileNames(p.page)).toEqual(othersOf(people, p));

      log('five');
      // Dana closes her tab: within 10 s the others see three, and their call goes on.
      const dana = people.splice(3, 1)[0]!;
      const closedAt = Date.now();
      // As a person closing the tab: the page's beforeunload and pagehide run.
      await dana.page.close({ runBeforeUnload: true });
      for (const p of people) {
        await expect.poll(() => p.page.locator('.parley-tile[data-source="camera"]').count()).toBe(3);
        // The 10 s are timed by each page, from the close to its DOM showing three (on a loaded
        // machine a poll from here can reach a page seconds after it changed).
        const sawThree = (await tileCounts(p.page)).find((c) => c.at >= closedAt && c.count === 3)?.at;
        expect(sawThree, `${p.name}'s tiles after Dana closed her tab`).toBeDefined();
        log(`${p.name} saw three ${sawThree! - closedAt} ms after Dana closed her tab`);
        expect(sawThree! - closedAt, `ms until ${p.name} saw three`).toBeLessThanOrEqual(10_000);
      }
      await Promise.all(people.map((p) => seesVideos(p.page, 3, 'after Dana')));
      for (const p of people) {
        expect(await tileNames(p.page)).toEqual(othersOf(people, p));
        expect(await endScreens(p.page)).toBe(0);
      }

      log('dana left');
      // Hang up leaves the call for the one who hangs up only.
      await people[3]!.page.getByRole('button', { name: 'Hang up' }).click();
      await people[3]!.page.getByRole('heading', { name: 'Call ended' }).waitFor();
      const stay = people.slice(0, 3);
      for (const p of stay) {
        await expect
          .poll(() => p.page.locator('.parley-tile[data-source="camera"]').count(), { timeout: 20_000 })
          .toBe(2);
        expect(await endScreens(p.page)).toBe(0);
      }
      for (const p of [...people, dana]) expect(p.errors).toEqual([]);
    } catch (err) {
      for (const p of people)
        if (!p.page.isClosed()) await screenshot(p.page, `group-${p.name}`).catch(() => {});
      throw err;
    }
  });

  test('a seventh person is told the call is full (6 people)', async () => {
    const link = newShareLink(server.url);
    // Six seats taken by plain signaling clients (no media needed to hold a place).
    const seats: WebSocket[] = [];
    for (let i = 0; i < 6; i++) {
      const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const joined = new Promise<void>((resolve) => {
        ws.on('message', (data) => {
          if (JSON.parse(String(data)).type === 'joined') resolve();
        });
      });
      ws.send(JSON.stringify({ v: 1, type: 'join', room: link.room }));
      await joined;
      seats.push(ws);
    }
    try {
      const seventh = await join(formatShareLink(link), 'Gus');
      await seventh.page.getByRole('heading', { name: 'This call is full' }).waitFor({ timeout: 60_000 });
      await seventh.page.getByText('This call is full (6 people).').waitFor();
    } finally {
      for (const ws of seats) ws.close();
      for (const context of contexts.splice(0)) await context.close().catch(() => {});
    }
  });
});
