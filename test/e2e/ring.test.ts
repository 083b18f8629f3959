/**
 * Ringing a contact, as people do it: two real Chromium profiles with the built extension and
 * the real server, who saved each other in a link call first. Ana presses **Call Bo** in her
 * popup: her overlay says "Calling Bo…" at once; Bo's browser shows a notification and the
 * popup's ring card. Accepting opens the call in Parley's call window and video flows
 * (frames counted); declining and not answering are told to Ana in words, and the missed
 * call is listed.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  contactLine,
  framesPresented,
  hangUp,
  linkCall,
  REMOTE_VIDEO,
  ringNotifications,
  saveEachOther,
} from './contact-steps.ts';
import { ORDINARY_PAGE, type PageServer, startPageServer } from './harness.ts';
import { type ExtensionUser, launchExtensionUser, overlayFrame, overlayMounted } from './popup-driver.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let bo: ExtensionUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, bo] = await Promise.all([launchExtensionUser(), launchExtensionUser()]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await pages?.close();
  await server?.stop();
});

async function page(user: ExtensionUser): Promise<Page> {
  const p = await user.context.newPage();
  await p.goto(`${pages.url}/`);
  return p;
}

/** Ana presses Call Bo; her overlay says "Calling Bo…". */
async function anaCallsBo(media: 'Call Bo' | 'Audio call Bo' = 'Call Bo') {
  await expect.poll(() => contactLine(ana, anaPage, 'Bo'), { timeout: 30_000 }).toMatch(/Available/);
  const popup = await ana.openPopup(anaPage);
  await popup.click(media);
  await popup.waitForStatus(/Calling Bo…/);
  await popup.close();
  const overlay = await overlayFrame(anaPage, ana.extensionId);
  await overlay.getByText('Calling Bo…').waitFor({ timeout: 15_000 });
  return overlay;
}

let anaPage: Page;
let boPage: Page;

describe('ringing a contact', () => {
  it('starts from two people who saved each other in a link call', async () => {
    const call = await linkCall(ana, bo, { server: server.url, pageUrl: `${pages.url}/` });
    await saveEachOther(call);
    await hangUp(call);
  });

  it('rings Bo (notification and ring card); Accept opens the call window and video flows both ways', async () => {
    [anaPage, boPage] = await Promise.all([page(ana), page(bo)]);
    const anaOverlay = await anaCallsBo();
    await expect.poll(() => ringNotifications(bo), { timeout: 15_000 }).toBe(1);
    const popup = await bo.openPopup(boPage);
    await popup.waitForText(/Ana is calling/);
    const windowOpened = bo.context.waitForEvent('page', {
      predicate: (p) => p.url().startsWith(`chrome-extension://${bo.extensionId}/src/overlay/window.html`),
      timeout: 15_000,
    });
    await popup.click('Accept');
    const win = await windowOpened;
    await popup.close().catch(() => {});
    expect(await ringNotifications(bo)).toBe(0);
    // Frames presented on both sides: media flows.
    const [there, here] = await Promise.all([
      framesPresented(win, REMOTE_VIDEO),
      framesPresented(anaOverlay, REMOTE_VIDEO),
    ]);
    expect(there).toBeGreaterThanOrEqual(10);
    expect(here).toBeGreaterThanOrEqual(10);
    await anaOverlay.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => overlayMounted(anaPage), { timeout: 10_000 }).toBe(false);
    await win.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: 15_000 });
    await win.close().catch(() => {});
  });

  it('tells Ana in words when Bo declines', async () => {
    const anaOverlay = await anaCallsBo('Audio call Bo');
    const popup = await bo.openPopup(boPage);
    await popup.waitForText(/Ana is calling \(audio\)/);
    await popup.click('Decline');
    await popup.waitForStatus(/Call declined/);
    await popup.close();
    await anaOverlay.getByText('Bo declined the call.').waitFor({ timeout: 15_000 });
    expect(await ringNotifications(bo)).toBe(0);
    await expect.poll(() => overlayMounted(anaPage), { timeout: 15_000 }).toBe(false);
  });

  it('tells Ana "Bo did not answer" after 30 s, and Bo sees the missed call', async () => {
    const anaOverlay = await anaCallsBo();
    await expect.poll(() => ringNotifications(bo), { timeout: 15_000 }).toBe(1);
    await anaOverlay.getByText('Bo did not answer.').waitFor({ timeout: 45_000 });
    expect(await ringNotifications(bo)).toBe(0);
    const popup = await bo.openPopup(boPage);
    await popup.waitForText(/Missed calls[\s\S]*Ana, video call at/);
    expect(await popup.isVisible('Accept')).toBe(false);
    await popup.close();
    await expect.poll(() => overlayMounted(anaPage), { timeout: 15_000 }).toBe(false);
  });
});
