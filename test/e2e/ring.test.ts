/**
 * Ringing a contact, as people do it: two real Chromium profiles with the built extension and
 * the real server, who saved each other in a link call first. Ana presses **Call Bo** in her
 * popup: her overlay says "Calling Bo…" at once; Bo's browser shows a notification and the
 * popup's ring card. Accepting opens the call in Parley's call window and video flows
 * (frames counted), verified by both identity keys, also after Bo moves the call onto his
 * page (a new connection, signed again); declining and not answering are told to Ana in words, and the missed
 * call is listed.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvite } from '../../src/identity/invite.ts';
import { generateIdentity, signText } from '../../src/identity/keys.ts';
import { presenceProofText } from '../../src/protocol/presence.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient } from '../integration/ws-client.ts';
import {
  contactLine,
  framesPresented,
  hangUp,
  linkCall,
  REMOTE_VIDEO,
  ringNotifications,
  saveEachOther,
  stopServiceWorker,
} from './contact-steps.ts';
import { ORDINARY_PAGE, type PageServer, startPageServer } from './harness.ts';
import {
  callWindow,
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
} from './popup-driver.ts';

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
  // The popup asks the worker after the click: close it only once the overlay is there.
  const overlay = await overlayFrame(anaPage, ana.extensionId);
  await popup.close();
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
    await popup.click('Accept');
    // (Opened, minimized, while it rang: Accept brings it up and hands it the call.)
    const win = await callWindow(bo);
    await popup.close().catch(() => {});
    await expect.poll(() => ringNotifications(bo), { timeout: 15_000 }).toBe(0);
    // Frames presented on both sides: media flows.
    const [there, here] = await Promise.all([
      framesPresented(win, REMOTE_VIDEO),
      framesPresented(anaOverlay, REMOTE_VIDEO),
    ]);
    expect(there).toBeGreaterThanOrEqual(10);
    expect(here).toBeGreaterThanOrEqual(10);
    // Bo moves the call onto his page: a new connection, whose descriptions both keys sign
    // again (Bo's overlay sees Ana's video only if each side verified the other's).
    const windowClosed = win.waitForEvent('close', { timeout: 60_000 });
    const boPopup = await bo.openPopup(boPage);
    // Keys verify a call between contacts: there is no link to copy, and the popup says who.
    await boPopup.waitForText(/A video call with Ana is running in its own window/);
    expect(await boPopup.isVisible('Copy link')).toBe(false);
    await boPopup.click('Move the call to this page');
    await boPopup.waitForStatus(/The call is on this page now/);
    await boPopup.close();
    await windowClosed;
    const boOverlay = await overlayFrame(boPage, bo.extensionId);
    expect(await framesPresented(boOverlay, REMOTE_VIDEO)).toBeGreaterThanOrEqual(10);
    await anaOverlay.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => overlayMounted(anaPage), { timeout: 10_000 }).toBe(false);
    await boOverlay.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: 15_000 });
    await boOverlay.getByRole('button', { name: 'Close' }).click();
    await expect.poll(() => overlayMounted(boPage), { timeout: 10_000 }).toBe(false);
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
    // The call window made ready while it rang is gone too.
    const windowPages = () => bo.context.pages().filter((p) => p.url().includes('/src/overlay/window.html'));
    await expect.poll(() => windowPages().length, { timeout: 15_000 }).toBe(0);
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

  it("refuses a ring for Ana's mailbox signed by another key: no notification, Bo's popup says Ana's key changed", async () => {
    // The strongest stranger: Bo's inbox id for Ana, read out of Ana's own storage.
    const anaWorker = await ana.serviceWorker();
    const boInbox = await anaWorker.evaluate(async () => {
      const { contacts } = await chrome.storage.local.get('contacts');
      return (Object.values(contacts as Record<string, { outbox: string }>)[0] as { outbox: string }).outbox;
    });
    const mallory = await generateIdentity();
    const client = await TestClient.open(server.url);
    client.send({ v: 1, type: 'challenge' });
    const nonce = (await client.next('challenge')).nonce as string;
    client.send({
      v: 1,
      type: 'register',
      key: mallory.publicKey,
      signature: await signText(mallory, presenceProofText(server.url, nonce, mallory.publicKey)),
    });
    await client.next('registered');
    const invite = await createInvite(mallory, {
      mailbox: boInbox,
      room: newRoom(),
      media: 'video',
      now: Date.now(),
    });
    client.send({ v: 1, type: 'ring', invite });
    // The server delivers it (Bo's inbox is online): only Bo's own check stands in the way.
    expect(await client.next('ring-status')).toMatchObject({ status: 'ringing' });
    const popup = await bo.openPopup(boPage);
    await popup.waitForText(/Ana's key changed: Parley refused a call signed by a different key/);
    expect(await popup.text()).not.toMatch(/is calling/);
    expect(await ringNotifications(bo)).toBe(0);
    await popup.click('Dismiss');
    await expect.poll(() => popup.text()).not.toMatch(/key changed/);
    await popup.close();
    client.close();
  });

  it('rings Bo although his service worker was stopped just before: he is available again within 35 s', async () => {
    // Ana's popup stays open all along: it asks for its state only when her worker says it
    // changed (a port, no polling), so what it shows here was pushed.
    const anaPopup = await ana.openPopup(anaPage);
    const boLine = () =>
      anaPopup.evaluate<string>(
        `[...document.querySelectorAll('.contact')].map((li) => li.innerText).find((t) => t.startsWith('Bo')) ?? ''`,
      );
    await expect.poll(boLine, { timeout: 15_000 }).toMatch(/\bAvailable/);
    await stopServiceWorker(bo, boPage);
    // Ana sees Bo go, then come back (the watchdog alarm restarts his worker and its socket).
    await expect.poll(boLine, { timeout: 15_000 }).toMatch(/Not available/);
    const stoppedAt = Date.now();
    await expect.poll(boLine, { timeout: 40_000, interval: 500 }).toMatch(/\bAvailable/);
    expect(Date.now() - stoppedAt).toBeLessThan(35_000);
    await anaPopup.close();
    const anaOverlay = await anaCallsBo();
    await expect.poll(() => ringNotifications(bo), { timeout: 15_000 }).toBe(1);
    const popup = await bo.openPopup(boPage);
    await popup.click('Decline');
    await popup.close();
    await anaOverlay.getByText('Bo declined the call.').waitFor({ timeout: 15_000 });
    await expect.poll(() => overlayMounted(anaPage), { timeout: 15_000 }).toBe(false);
  });

  it('cannot ring Bo once he removed Ana: nothing shows on his side, Ana hears he is not available', async () => {
    const popup = await bo.openPopup(boPage);
    await popup.click('Remove Ana');
    await popup.waitForStatus(/Ana was removed/);
    await popup.waitForText(/No contacts yet/);
    await popup.close();
    await expect.poll(() => contactLine(ana, anaPage, 'Bo'), { timeout: 15_000 }).toMatch(/Not available/);
    const anaPopup = await ana.openPopup(anaPage);
    await anaPopup.click('Call Bo');
    const overlay = await overlayFrame(anaPage, ana.extensionId);
    await anaPopup.close();
    await overlay.getByText('Bo is not available right now.').waitFor({ timeout: 15_000 });
    expect(await ringNotifications(bo)).toBe(0);
  });
});
