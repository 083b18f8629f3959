/**
 * The overlay as a window on the page: it can be dragged and resized, remembers where it was,
 * shrinks when minimized, and comes back if the page deletes it.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { ORDINARY_PAGE, type PageServer, startPageServer } from './harness.ts';
import {
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
  startCallFromPopup,
} from './popup-driver.ts';

let server: ServerHandle;
let pages: PageServer;
let user: ExtensionUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  user = await launchExtensionUser();
});

afterAll(async () => {
  await user?.close();
  await pages?.close();
  await server?.stop();
});

type Box = { x: number; y: number; width: number; height: number };

function hostBox(page: Page): Promise<Box | null> {
  return page.evaluate(() => {
    const host = document.querySelector('parley-overlay');
    if (!host) return null;
    const r = host.getBoundingClientRect();
    return {
      x: Math.round(r.x),
      y: Math.round(r.y),
      width: Math.round(r.width),
      height: Math.round(r.height),
    };
  });
}

async function drag(page: Page, from: { x: number; y: number }, by: { x: number; y: number }) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + by.x, from.y + by.y, { steps: 8 });
  await page.mouse.up();
}

async function startCall(page: Page) {
  await page.goto(`${pages.url}/`);
  await startCallFromPopup(user, page, { server: server.url, name: 'Ana', media: 'video' });
  const frame = await overlayFrame(page, user.extensionId);
  await frame.getByRole('button', { name: 'Hang up' }).waitFor({ timeout: 15_000 });
  return frame;
}

describe('the overlay on the page', () => {
  it('drags by its handle, resizes by its corner, minimizes, and opens where it was left', async () => {
    const page = await user.context.newPage();
    let frame = await startCall(page);
    const start = (await hostBox(page))!;

    // The handle is the thin bar along the top of the overlay.
    await drag(page, { x: start.x + start.width / 2, y: start.y + 6 }, { x: -300, y: -200 });
    const moved = (await hostBox(page))!;
    expect(moved.x).toBe(start.x - 300);
    expect(moved.y).toBe(start.y - 200);

    await drag(page, { x: moved.x + moved.width - 6, y: moved.y + moved.height - 6 }, { x: 60, y: 40 });
    const resized = (await hostBox(page))!;
    expect(resized.width).toBe(moved.width + 60);
    expect(resized.height).toBe(moved.height + 40);

    await frame.getByRole('button', { name: 'Minimize' }).click();
    await expect.poll(async () => (await hostBox(page))!.height).toBeLessThan(120);
    await frame.getByRole('button', { name: 'Restore' }).click();
    await expect.poll(async () => (await hostBox(page))!.height).toBe(resized.height);

    await frame.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => overlayMounted(page), { timeout: 10_000 }).toBe(false);

    // The next call opens where this one was left.
    frame = await startCall(page);
    expect(await hostBox(page)).toEqual(resized);
    await frame.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => overlayMounted(page), { timeout: 10_000 }).toBe(false);
    await page.close();
  });

  it('comes back with a working call panel when the page deletes it', async () => {
    const page = await user.context.newPage();
    await startCall(page);
    await page.evaluate(() => document.querySelector('parley-overlay')?.remove());
    // Put back at once, with a fresh capability (the first one is spent), and the call UI again.
    await expect.poll(() => overlayMounted(page)).toBe(true);
    await expect
      .poll(
        async () => {
          const frames = page.frames().filter((f) => f.url().includes('/src/overlay/overlay.html'));
          return frames.length === 1 ? frames[0]!.getByRole('button', { name: 'Hang up' }).count() : 0;
        },
        { timeout: 15_000 },
      )
      .toBe(1);
    const frame = await overlayFrame(page, user.extensionId);
    expect(await frame.evaluate(() => document.body.textContent)).not.toContain('not opened by you');
    await frame.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => overlayMounted(page), { timeout: 10_000 }).toBe(false);
    await page.close();
  });
});
