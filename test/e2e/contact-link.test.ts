/**
 * Contact links, as people use them: two real Chromium profiles with the built extension and
 * the real server. Ana presses **Share my contact link**; Bo opens the link (the server's page
 * says what Parley does with it), presses **Add contact** in his popup; Ana sees "Bo wants to
 * add you as a contact" and presses **Add contact**. Each popup then lists the other as
 * available, and Ana can ring Bo (his ring card appears). The link works once: tried again,
 * it is refused in words and Ana is not asked.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseContactLink } from '../../src/protocol/contact-link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { contactLine } from './contact-steps.ts';
import { ORDINARY_PAGE, type PageServer, readClipboard, startPageServer } from './harness.ts';
import {
  configurePopup,
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
} from './popup-driver.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let bo: ExtensionUser;
let anaPage: Page;
let boPage: Page;
let link = '';

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, bo] = await Promise.all([launchExtensionUser(), launchExtensionUser()]);
  anaPage = await ana.context.newPage();
  await anaPage.goto(`${pages.url}/`);
  boPage = await bo.context.newPage();
  await boPage.goto(`${pages.url}/`);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await pages?.close();
  await server?.stop();
});

describe('adding a contact through a contact link', () => {
  it('Ana shares her contact link; the link page says what Parley would add', async () => {
    const popup = await ana.openPopup(anaPage);
    await configurePopup(popup, { server: server.url, name: 'Ana' });
    await popup.click('Share my contact link');
    await popup.waitForStatus(/Contact link copied/);
    // The status can come before the field holding the link is drawn (failed once in a full run): wait for it.
    link = await popup.evaluate<string>(`new Promise((resolve, reject) => {
      const end = Date.now() + 10_000;
      const tick = () => {
        const field = document.getElementById('contact-link-text');
        if (field?.value) resolve(field.value);
        else if (Date.now() > end) reject(new Error('the contact link field never showed a link'));
        else setTimeout(tick, 50);
      };
      tick();
    })`);
    await popup.close();
    const parsed = parseContactLink(link);
    expect(parsed?.name).toBe('Ana');
    expect(await readClipboard(anaPage)).toBe(link);

    await boPage.goto(link);
    await boPage.getByRole('heading', { name: "Ana's Parley contact link" }).waitFor({ timeout: 15_000 });
    const text = await boPage.locator('body').innerText();
    expect(text).toMatch(/Click the Parley button in your browser's toolbar: it offers Add contact/);
    expect(text).toMatch(/This page cannot keep contacts\. Installing the Parley extension would add them/);
  });

  it('Bo presses Add contact, Ana accepts; each popup lists the other as available', async () => {
    const boPopup = await bo.openPopup(boPage);
    await configurePopup(boPopup, { server: server.url, name: 'Bo' });
    await boPopup.waitForText(/Ana's contact link/);
    await boPopup.click('Add contact');
    await boPopup.waitForText(/Waiting for Ana to accept…/, 20_000);

    // Nothing is saved on either side before Ana answers.
    const anaPopup = await ana.openPopup(anaPage);
    await anaPopup.waitForText(/Bo wants to add you as a contact/);
    expect(await anaPopup.text()).not.toMatch(/Audio call Bo/);
    await anaPopup.click('Add contact');
    await anaPopup.waitForStatus(/Added/);
    await anaPopup.close();
    await boPopup.waitForText(/Ana is now in your contacts\./, 20_000);
    await boPopup.close();

    // The same pair secret on both sides, as a Save-contact exchange gives.
    const secretOf = async (user: ExtensionUser) =>
      (await user.serviceWorker()).evaluate(async () => {
        const { contacts } = await chrome.storage.local.get('contacts');
        return Object.values(contacts as Record<string, { secret: string }>).map((c) => c.secret);
      });
    const [anaSecrets, boSecrets] = await Promise.all([secretOf(ana), secretOf(bo)]);
    expect(anaSecrets).toHaveLength(1);
    expect(anaSecrets).toEqual(boSecrets);
    await expect.poll(() => contactLine(ana, anaPage, 'Bo'), { timeout: 40_000 }).toMatch(/Available/);
    await expect.poll(() => contactLine(bo, boPage, 'Ana'), { timeout: 40_000 }).toMatch(/Available/);
  });

  it('Ana rings Bo: his ring card appears (the pair secret and mailboxes agree)', async () => {
    const popup = await ana.openPopup(anaPage);
    await popup.click('Call Bo');
    await popup.waitForStatus(/Calling Bo…/);
    const overlay = await overlayFrame(anaPage, ana.extensionId);
    await popup.close();
    const boPopup = await bo.openPopup(boPage);
    await boPopup.waitForText(/Ana is calling/, 20_000);
    await boPopup.click('Decline');
    await boPopup.waitForStatus(/Call declined/);
    await boPopup.close();
    await overlay.getByText('Bo declined the call.').waitFor({ timeout: 15_000 });
    await expect.poll(() => overlayMounted(anaPage), { timeout: 15_000 }).toBe(false);
  });

  it('refuses the used link: Bo, who removed Ana, is told so and Ana is not asked', async () => {
    const boPopup = await bo.openPopup(boPage);
    // Ana is a contact: her link offers nothing to add.
    expect(await boPopup.isVisible('Add contact')).toBe(false);
    await boPopup.click('Remove Ana');
    await boPopup.waitForStatus(/removed/);
    await boPopup.waitForText(/Ana's contact link/);
    await boPopup.click('Add contact');
    await boPopup.waitForText(/Nobody answered this link: it was already used/, 30_000);
    await boPopup.close();
    const anaPopup = await ana.openPopup(anaPage);
    expect(await anaPopup.text()).not.toMatch(/wants to add you/);
    await anaPopup.close();
    expect(await contactLine(bo, boPage, 'Ana')).toBe('');
  });
});
