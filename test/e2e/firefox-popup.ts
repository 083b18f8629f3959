/**
 * Drives the extension's real toolbar popup in headless Firefox. The toolbar button cannot
 * be clicked over WebDriver BiDi, and the popup is not a browsing context BiDi lists, so:
 * a helper extension page (the permission page, opened in a background tab of the same
 * window, so the test page stays the active tab) calls `action.openPopup()`, which opens
 * the real popup for the active tab, and reaches the popup's document with
 * `extension.getViews({ type: 'popup' })`. Controls are found there by role and accessible
 * name and pressed with DOM clicks (`HTMLElement.click()`, not input events); fields are
 * filled by setting their value and dispatching input/change, as typing would.
 */
import type { Frame, Page } from 'puppeteer-core';
import type { FirefoxUser } from './firefox-harness.ts';

/** The page that stays in the background to reach the popup from (an extension page). */
export async function helperPage(user: FirefoxUser): Promise<Page> {
  const base = user.extensionBase;
  if (!base) throw new Error('The extension is not installed in this Firefox');
  for (const page of await user.browser.pages()) if (page.url().startsWith(base)) return page;
  const helper = await user.browser.newPage({ background: true });
  // Navigations to extension pages never report `load` over BiDi: wait for the document.
  await helper.goto(`${base}src/permission/permission.html`, { timeout: 2_000 }).catch(() => {});
  await helper.waitForFunction(() => document.readyState === 'complete' && typeof chrome === 'object', {
    timeout: 15_000,
  });
  // tsx (benchmarks run under it) names functions with a __name helper that pages lack.
  await helper.evaluate('globalThis.__name = (f) => f');
  return helper;
}

type PopupAction =
  | { op: 'click'; role: 'button'; name: string }
  | { op: 'fill'; label: string; value: string }
  | { op: 'read'; id: string };

/** Runs one action on the open popup's document, from the helper page. */
function act(helper: Page, action: PopupAction): Promise<string> {
  return helper.evaluate((action: PopupAction) => {
    const popup = chrome.extension.getViews({ type: 'popup' })[0];
    if (!popup) throw new Error('The popup is not open');
    const doc = popup.document;
    const visible = (el: Element) => !el.closest('[hidden]') && el.getClientRects().length > 0;
    if (action.op === 'read') return doc.getElementById(action.id)?.textContent ?? '';
    if (action.op === 'click') {
      const candidates = [...doc.querySelectorAll<HTMLElement>('button, summary')];
      const target = candidates.find(
        (el) => visible(el) && (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() === action.name,
      );
      if (!target) throw new Error(`No visible button named "${action.name}" in the popup`);
      target.click();
      return '';
    }
    const label = [...doc.querySelectorAll('label')].find((l) => l.textContent?.trim() === action.label);
    const input = label?.control as HTMLInputElement | null | undefined;
    if (!input) throw new Error(`No field labelled "${action.label}" in the popup`);
    input.focus();
    input.value = action.value;
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.dispatchEvent(new Event('change', { bubbles: true }));
    input.blur();
    return '';
  }, action);
}

export interface FirefoxPopup {
  click(name: string): Promise<void>;
  fill(label: string, value: string): Promise<void>;
  /** The popup's status line (role=status). */
  status(): Promise<string>;
  waitForStatus(pattern: RegExp, timeout?: number): Promise<string>;
  close(): Promise<void>;
}

/** Opens the real popup for `page` (made the active tab first). */
export async function openFirefoxPopup(user: FirefoxUser, page: Page): Promise<FirefoxPopup> {
  const helper = await helperPage(user);
  await page.bringToFront();
  await helper.evaluate(async () => {
    // As a click elsewhere would: close a popup left open before opening a fresh one.
    for (const open of chrome.extension.getViews({ type: 'popup' })) open.close();
    await new Promise((r) => setTimeout(r, 200));
    await chrome.action.openPopup();
  });
  // The popup asked the background for its state: the server field is filled once it answered.
  await helper.waitForFunction(
    () => {
      const popup = chrome.extension.getViews({ type: 'popup' })[0];
      return Boolean((popup?.document.getElementById('server') as HTMLInputElement | null)?.value);
    },
    { timeout: 15_000, polling: 100 },
  );
  const status = () => act(helper, { op: 'read', id: 'status' });
  return {
    click: async (name) => void (await act(helper, { op: 'click', role: 'button', name })),
    fill: async (label, value) => void (await act(helper, { op: 'fill', label, value })),
    status,
    close: () => helper.evaluate(() => chrome.extension.getViews({ type: 'popup' })[0]?.close()),
    async waitForStatus(pattern, timeout = 20_000) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const text = await status();
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) throw new Error(`The popup says "${text}", not ${pattern}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** Settings (server) and name, then Start video/audio call; the popup closes after. */
export async function startFirefoxCall(
  user: FirefoxUser,
  page: Page,
  options: { server: string; name: string; media: 'video' | 'audio' },
): Promise<void> {
  const popup = await openFirefoxPopup(user, page);
  await popup.click('Settings');
  await popup.fill('Signaling server', options.server);
  await popup.click('Save');
  await popup.waitForStatus(/Settings saved/);
  await popup.fill('Your name', options.name);
  await popup.click(options.media === 'video' ? 'Start video call' : 'Start audio call');
  await popup.waitForStatus(/Link copied|Copy the link/);
  await popup.close();
}

/**
 * The overlay frame in `page`. BiDi lists it with a stale about:blank URL, but evaluating in
 * it runs inside the moz-extension document: find it by what it shows.
 */
export async function firefoxOverlayFrame(page: Page, timeout = 20_000): Promise<Frame> {
  const deadline = Date.now() + timeout;
  for (;;) {
    for (const frame of page.frames()) {
      if (frame === page.mainFrame()) continue;
      const isOverlay = await frame
        .evaluate(() => location.protocol === 'moz-extension:' && !!document.querySelector('.parley-app'))
        .catch(() => false);
      if (isOverlay) return frame;
    }
    if (Date.now() > deadline) throw new Error('The Parley overlay did not appear on the page');
    await new Promise((r) => setTimeout(r, 200));
  }
}
