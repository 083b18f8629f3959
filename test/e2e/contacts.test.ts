/**
 * Saving contacts in a call, as people do it: two real Chromium profiles with the built
 * extension and the real server. Both must agree ("Not now" saves nothing); Verify's codes
 * belong to one connection (compared again when an overlay is re-mounted); afterwards each
 * popup lists the other, available; a guest page without the extension is never offered and
 * says what installing Parley would add.
 */
import type { Frame } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { hangUp, linkCall, REMOTE_VIDEO } from './contact-steps.ts';
import {
  type BrowserUser,
  expectVideoPlaying,
  launchBrowser,
  ORDINARY_PAGE,
  type PageServer,
  startPageServer,
} from './harness.ts';
import { type ExtensionUser, launchExtensionUser, overlayFrame, startCallFromPopup } from './popup-driver.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let bo: ExtensionUser;
let guest: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, bo, guest] = await Promise.all([launchExtensionUser(), launchExtensionUser(), launchBrowser()]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

/** The security code an overlay shows, once it shows one (other than `old`). */
async function securityCode(overlay: Frame, old?: string): Promise<string> {
  const digits = overlay.getByRole('group', { name: 'Security code' }).locator('.parley-sas-digits');
  let code = '';
  await expect
    .poll(
      async () => {
        code = (await digits.count()) === 1 ? await digits.innerText() : '';
        return code !== '' && code !== old;
      },
      { timeout: 30_000 },
    )
    .toBe(true);
  return code;
}

describe('saving a contact in a call', () => {
  it("needs both to agree; Verify shows both the same code, compared again when Bo's overlay is re-mounted; then each popup lists the other as verified and available", async () => {
    const call = await linkCall(ana, bo, { server: server.url, pageUrl: `${pages.url}/` });
    const { anaOverlay } = call;
    let boOverlay = call.boOverlay;

    // Ana asks, Bo says Not now: nothing is saved, and Ana is told.
    await anaOverlay.getByRole('button', { name: 'Save contact' }).click({ timeout: 15_000 });
    await anaOverlay.getByText('Waiting for Bo to agree…').waitFor();
    await boOverlay.getByText('Ana wants to save you as a contact').waitFor({ timeout: 15_000 });
    await boOverlay.getByRole('button', { name: 'Not now' }).click();
    await anaOverlay.getByText('Bo did not save you as a contact.').waitFor({ timeout: 15_000 });
    const boPopup = await bo.openPopup(call.boPage);
    await boPopup.waitForText(/No contacts yet/);
    await boPopup.close();

    // Asked again, Bo agrees: both are saved.
    await anaOverlay.getByRole('button', { name: 'Save contact' }).click();
    await boOverlay.getByText('Ana wants to save you as a contact').waitFor({ timeout: 15_000 });
    await boOverlay.getByRole('button', { name: 'Save contact' }).click();
    await Promise.all([
      anaOverlay.getByText('Bo is now in your contacts.').waitFor({ timeout: 15_000 }),
      boOverlay.getByText('Ana is now in your contacts.').waitFor({ timeout: 15_000 }),
    ]);

    // Verify: both read the same security code (7 emoji, 3 × 4 digits) and confirm it.
    await anaOverlay.getByRole('button', { name: 'Verify' }).click();
    const codes = await Promise.all([anaOverlay, boOverlay].map((overlay) => securityCode(overlay)));
    expect(codes[0]).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(codes[1]).toBe(codes[0]);

    // Before they confirm, Bo's page deletes his overlay: the new one connects to Ana on a new
    // connection (new certificate). The codes belonged to the old one: both overlays show new
    // codes, the same on both sides, and the call goes on.
    await call.boPage.evaluate(() => document.querySelector('parley-overlay')?.remove());
    const before = boOverlay;
    await expect
      .poll(
        () => {
          boOverlay =
            call.boPage
              .frames()
              .find(
                (f) =>
                  f !== before && f.url().startsWith(`chrome-extension://${bo.extensionId}/src/overlay/`),
              ) ?? before;
          return boOverlay !== before;
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    const again = await Promise.all([securityCode(anaOverlay, codes[0]), securityCode(boOverlay, codes[0])]);
    expect(again[1]).toBe(again[0]);
    await anaOverlay.getByRole('button', { name: 'They match' }).click();
    await boOverlay.getByRole('button', { name: 'They match' }).click();
    await anaOverlay.getByText('Bo is in your contacts, verified.').waitFor();
    await boOverlay.getByText('Ana is in your contacts, verified.').waitFor();

    // Each popup lists the other; a first contact turns Available for calls on, so each
    // registers its inbox and sees the other come online.
    for (const [user, page, other] of [
      [ana, call.anaPage, 'Bo'],
      [bo, call.boPage, 'Ana'],
    ] as const) {
      const popup = await user.openPopup(page);
      expect(await popup.isChecked('Available for calls')).toBe(true);
      await popup.waitForText(new RegExp(`${other}\\s+✓ Verified\\s+Available`), 20_000);
      expect(await popup.isVisible(`Remove ${other}`)).toBe(true);
      await popup.close();
    }
    await hangUp(call);
  });

  it('is not offered for a guest without the extension, whose page says what Parley would add', async () => {
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'video' });
    const overlay = await overlayFrame(anaPage, ana.extensionId);
    const guestPage = await guest.context.newPage();
    await guestPage.goto(link);
    await guestPage.getByRole('textbox', { name: 'Your name' }).fill('Cy');
    await guestPage.getByRole('button', { name: 'Join call' }).click();
    await Promise.all([
      expectVideoPlaying(overlay, REMOTE_VIDEO),
      expectVideoPlaying(guestPage, REMOTE_VIDEO),
    ]);
    await guestPage
      .getByText('Ana uses the Parley extension.', { exact: false })
      .waitFor({ timeout: 15_000 });
    expect(await overlay.getByRole('button', { name: 'Save contact' }).count()).toBe(0);
    await overlay.getByRole('button', { name: 'Hang up' }).click();
    await Promise.all([anaPage.close(), guestPage.close()]);
  });
});
