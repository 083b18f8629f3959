/**
 * Steps shared by the contacts and ring tests: two extension users in a link call save each
 * other as contacts, as people do (popup, overlay buttons).
 */
import type { Frame, Page } from 'playwright-core';
import { expect } from 'vitest';
import { expectVideoPlaying } from './harness.ts';
import {
  configurePopup,
  type ExtensionUser,
  overlayFrame,
  overlayMounted,
  startCallFromPopup,
} from './popup-driver.ts';

export const REMOTE_VIDEO = '.parley-remote-video';

export interface LinkCall {
  anaPage: Page;
  boPage: Page;
  anaOverlay: Frame;
  boOverlay: Frame;
}

/** Ana starts a call from her popup, Bo pastes the link into his; both see video. */
export async function linkCall(
  ana: ExtensionUser,
  bo: ExtensionUser,
  options: { server: string; pageUrl: string },
): Promise<LinkCall> {
  const anaPage = await ana.context.newPage();
  await anaPage.goto(options.pageUrl);
  const link = await startCallFromPopup(ana, anaPage, {
    server: options.server,
    name: 'Ana',
    media: 'video',
  });
  const anaOverlay = await overlayFrame(anaPage, ana.extensionId);
  const boPage = await bo.context.newPage();
  await boPage.goto(options.pageUrl);
  const popup = await bo.openPopup(boPage);
  await configurePopup(popup, { server: options.server, name: 'Bo' });
  await popup.fill('Paste a call link', link);
  await popup.click('Join');
  await popup.waitForStatus(/Joining the call/);
  await popup.close();
  const boOverlay = await overlayFrame(boPage, bo.extensionId);
  await Promise.all([
    expectVideoPlaying(anaOverlay, REMOTE_VIDEO),
    expectVideoPlaying(boOverlay, REMOTE_VIDEO),
  ]);
  return { anaPage, boPage, anaOverlay, boOverlay };
}

/** Ana presses Save contact, Bo agrees: both overlays say so. */
export async function saveEachOther(call: LinkCall): Promise<void> {
  await call.anaOverlay.getByRole('button', { name: 'Save contact' }).click({ timeout: 15_000 });
  await call.boOverlay.getByText('Ana wants to save you as a contact').waitFor({ timeout: 15_000 });
  await call.boOverlay.getByRole('button', { name: 'Save contact' }).click();
  await Promise.all([
    call.anaOverlay.getByText('Bo is now in your contacts.').waitFor({ timeout: 15_000 }),
    call.boOverlay.getByText('Ana is now in your contacts.').waitFor({ timeout: 15_000 }),
  ]);
}

/** Ana hangs up from her overlay; both overlays go. */
export async function hangUp(call: LinkCall): Promise<void> {
  await call.anaOverlay.getByRole('button', { name: 'Hang up' }).click();
  await expect.poll(() => overlayMounted(call.anaPage), { timeout: 10_000 }).toBe(false);
  await Promise.all([call.anaPage.close(), call.boPage.close()]);
}

/** The popup's text about a contact, e.g. "Bo Available". */
export async function contactLine(user: ExtensionUser, page: Page, name: string): Promise<string> {
  const popup = await user.openPopup(page);
  try {
    return await popup.evaluate<string>(
      `[...document.querySelectorAll('.contact')].map((li) => li.innerText).find((t) => t.startsWith(${JSON.stringify(name)})) ?? ''`,
    );
  } finally {
    await popup.close();
  }
}

/** Waits until the <video> matched by `selector` has presented `count` new frames. */
export async function framesPresented(
  target: Pick<Page, 'evaluate'>,
  selector: string,
  count = 10,
  timeout = 20_000,
): Promise<number> {
  return target.evaluate(
    ({ sel, want, ms }) =>
      new Promise<number>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`fewer than ${want} frames in ${ms} ms`)), ms);
        let frames = 0;
        const watch = () => {
          const v = document.querySelector(sel) as HTMLVideoElement | null;
          if (!v) {
            setTimeout(watch, 100);
            return;
          }
          const tick = () => {
            frames++;
            if (frames >= want) {
              clearTimeout(deadline);
              resolve(frames);
            } else v.requestVideoFrameCallback(tick);
          };
          v.requestVideoFrameCallback(tick);
        };
        watch();
      }),
    { sel: selector, want: count, ms: timeout },
  );
}

/** How many ring notifications the extension shows now (asked in its service worker). */
export async function ringNotifications(user: ExtensionUser): Promise<number> {
  const worker = await user.serviceWorker();
  return worker.evaluate(
    async () =>
      Object.keys(await chrome.notifications.getAll()).filter((id) => id.startsWith('parley-ring:')).length,
  );
}

/** Stop the extension's service worker the way Chrome does when it idles it out. */
export async function stopServiceWorker(user: ExtensionUser, page: Page): Promise<void> {
  const cdp = await user.context.newCDPSession(page);
  const versions = new Map<string, { scriptURL: string; runningStatus: string }>();
  cdp.on('ServiceWorker.workerVersionUpdated', ({ versions: updated }) => {
    for (const v of updated)
      versions.set(v.versionId, { scriptURL: v.scriptURL, runningStatus: v.runningStatus });
  });
  await cdp.send('ServiceWorker.enable');
  const ours = () =>
    [...versions.entries()].find(([, v]) =>
      v.scriptURL.startsWith(`chrome-extension://${user.extensionId}/`),
    );
  await expect.poll(() => ours()?.[1].runningStatus).toBe('running');
  await cdp.send('ServiceWorker.stopWorker', { versionId: ours()![0] });
  await expect.poll(() => ours()?.[1].runningStatus, { timeout: 10_000 }).toBe('stopped');
  await cdp.detach().catch(() => {});
}
