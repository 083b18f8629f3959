/**
 * The profile's identity and its presence socket, in a real Chromium profile with the built
 * extension and the real server: the key made on first run and shown as a fingerprint under
 * **Your identity**, kept across popups, and **Available for calls** registering with the
 * server (a signed challenge) and letting go again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { ORDINARY_PAGE, type PageServer, startPageServer } from './harness.ts';
import { configurePopup, type ExtensionUser, launchExtensionUser } from './popup-driver.ts';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  ana = await launchExtensionUser();
});

afterAll(async () => {
  await ana?.close();
  await pages?.close();
  await server?.stop();
});

const FINGERPRINT = /Key (\d{5} \d{5} \d{5} \d{5})/;

describe('your identity', () => {
  it('is made on first run, shown as a fingerprint, and Available for calls registers it with the server', async () => {
    const page = await ana.context.newPage();
    await page.goto(`${pages.url}/`);
    let popup = await ana.openPopup(page);
    await configurePopup(popup, { server: server.url, name: 'Ana' });
    const first = FINGERPRINT.exec(await popup.waitForText(FINGERPRINT))?.[1];
    expect(first).toBeDefined();
    // No contact yet: not available by default, and nothing held on the server.
    expect(await popup.isChecked('Available for calls')).toBe(false);
    await popup.waitForText(/Contacts cannot call you now/);
    await popup.waitForText(/No contacts yet/);

    await popup.click('Available for calls', 'switch');
    // "Your contacts can call you" only once the server accepted the signed challenge.
    await popup.waitForText(/Your contacts can call you/);
    await popup.close();

    // Another popup later: the same key (it lives in IndexedDB, not in the popup).
    popup = await ana.openPopup(page);
    expect(FINGERPRINT.exec(await popup.waitForText(FINGERPRINT))?.[1]).toBe(first);
    expect(await popup.isChecked('Available for calls')).toBe(true);
    await popup.waitForText(/Your contacts can call you/);
    await popup.click('Available for calls', 'switch');
    await popup.waitForText(/Contacts cannot call you now/);
    expect(await popup.isChecked('Available for calls')).toBe(false);
    await popup.close();
    await page.close();
  });
});
