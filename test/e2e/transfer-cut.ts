/**
 * Steps shared by the e2e tests that cut a file transfer mid-way and check how it goes on
 * (files-resume, files-send-again, files-send-again-extension): counting the body bytes a
 * page sends or receives, waiting until a card's progress reaches a point, a guest joining
 * and sending a file to one person, and the page re-mounting the extension overlay.
 */
import type { BrowserContext, Frame, Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { card, sha256OfDownload } from './files-helpers.ts';
import { type ExtensionUser, overlayFrame, startCallFromPopup } from './popup-driver.ts';

/** Bytes of a body frame's header (src/call/files/frame.ts): the rest is the file's. */
const FRAME_HEADER = 13;

/**
 * Init script: counts the file bytes the page hands to 'files' channels. `__bodyBytesSent`
 * counts this page's; `__tabBodyBytesSent` every page's of this tab (kept in sessionStorage
 * when a page goes, so a reloaded page goes on from it).
 */
export const COUNT_SENT = `(() => {
  const g = globalThis;
  g.__bodyBytesSent = 0;
  try {
    g.__tabBodyBytesSent = Number(sessionStorage.getItem('__tabBodyBytesSent') || 0);
    addEventListener('pagehide', () => sessionStorage.setItem('__tabBodyBytesSent', String(g.__tabBodyBytesSent)));
  } catch {
    g.__tabBodyBytesSent = 0; // a frame without storage
  }
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (this.label === 'files' && data instanceof ArrayBuffer) {
      g.__bodyBytesSent += data.byteLength - ${FRAME_HEADER};
      g.__tabBodyBytesSent += data.byteLength - ${FRAME_HEADER};
    }
    return send.call(this, data);
  };
})();`;

/** Init script: counts the file bytes the page receives on 'files' channels (`__bodyBytesReceived`). */
export const COUNT_RECEIVED = `(() => {
  globalThis.__bodyBytesReceived = 0;
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const channel = create.apply(this, args);
    if (channel.label === 'files')
      channel.addEventListener('message', (event) => {
        if (event.data instanceof ArrayBuffer) globalThis.__bodyBytesReceived += event.data.byteLength - ${FRAME_HEADER};
      });
    return channel;
  };
})();`;

type Counter = '__bodyBytesSent' | '__tabBodyBytesSent' | '__bodyBytesReceived';

/** A count kept by COUNT_SENT or COUNT_RECEIVED. */
export function counted(page: Page, counter: Counter): Promise<number> {
  return page.evaluate((name) => (globalThis as unknown as Record<string, number>)[name] ?? 0, counter);
}

/** Waits until the (first) file card's progress in `frame` reaches `least` bytes; returns the value. */
export async function progressReaching(frame: Page | Frame, least: number): Promise<number> {
  const handle = await frame.waitForFunction(
    (atLeast) => {
      const progress = document.querySelector<HTMLProgressElement>('li.parley-file progress');
      return progress && progress.value >= atLeast ? progress.value : false;
    },
    least,
    { polling: 10, timeout: 90_000 },
  );
  return (await handle.jsonValue()) as number;
}

/**
 * Ana (extension) opens `url`, an ordinary page, and starts an audio call there from her
 * popup: her page, its overlay and the share link.
 */
export async function anaStartsCall(
  ana: ExtensionUser,
  url: string,
  serverUrl: string,
): Promise<{ anaPage: Page; overlay: Frame; link: string }> {
  const anaPage = await ana.context.newPage();
  await anaPage.goto(url);
  const link = await startCallFromPopup(ana, anaPage, { server: serverUrl, name: 'Ana', media: 'audio' });
  return { anaPage, overlay: await overlayFrame(anaPage, ana.extensionId), link };
}

/** A guest on the join screen of the guest page joins as `name`. */
export async function joinAsGuest(page: Page, name: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
}

/**
 * A guest opens the link in a new tab of `context` (with `initScripts` run in it first) and
 * joins as `name`.
 */
export async function guestJoins(
  context: BrowserContext,
  link: string,
  name: string,
  initScripts: string[] = [],
): Promise<Page> {
  const page = await context.newPage();
  // tsx names functions with a __name helper that pages lack.
  await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  for (const content of initScripts) await page.addInitScript({ content });
  await page.goto(link);
  await joinAsGuest(page, name);
  return page;
}

/** Files can be sent from `target` (someone's files link is open). */
export function sendFilesEnabled(target: Page | Frame): Promise<void> {
  return target
    .getByRole('button', { name: 'Send files', exact: true })
    .and(target.locator(':enabled'))
    .waitFor({ timeout: 30_000 });
}

/**
 * A guest in a call with `others` other people (two or one) picks `path` from `to`'s tile
 * ("Send files to Ana"): it goes to them only.
 */
export async function sendFileTo(page: Page, to: string, path: string, others: 1 | 2 = 2): Promise<void> {
  // A tile comes before its link opens: wait until files can go to every other person (the
  // button's title names them; a name may still read "Guest" there).
  await expect
    .poll(() => page.getByRole('button', { name: 'Send files', exact: true }).getAttribute('title'), {
      timeout: 60_000,
    })
    .toMatch(others === 2 ? /^Send files to .+ and .+$/ : /^Send files to .+$/);
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser', { timeout: 60_000 }),
    page.getByRole('button', { name: `Send files to ${to}` }).click({ timeout: 60_000 }),
  ]);
  await chooser.setFiles(path);
}

/**
 * The page deletes its extension overlay (the content script puts a new one back); returns
 * the new overlay frame once `ready` says so (polled).
 */
export async function remountOverlay(
  page: Page,
  old: Frame,
  extensionId: string,
  ready: (frame: Frame) => Promise<boolean>,
): Promise<Frame> {
  await page.evaluate(() => document.querySelector('parley-overlay')?.remove());
  let next: Frame | undefined;
  await expect
    .poll(
      async () => {
        next = page
          .frames()
          .find((f) => f !== old && f.url().startsWith(`chrome-extension://${extensionId}/src/overlay/`));
        return next ? ready(next).catch(() => false) : false;
      },
      { timeout: 60_000 },
    )
    .toBe(true);
  return next!;
}

/** `ready` for remountOverlay: the new overlay shows the card of `fileName`. */
export const showsCard = (fileName: string) => async (frame: Frame) =>
  (await card(frame, fileName).count()) === 1;

/** `ready` for remountOverlay: files can be sent from the new overlay. */
export const canSendFiles = async (frame: Frame) => {
  const button = frame.getByRole('button', { name: 'Send files', exact: true });
  return (await button.count()) === 1 && (await button.isEnabled());
};

/**
 * The receiver's paused card went on to the end (no second card), the file he saves has the
 * SHA-256 `original`, and what reached him after `receivedBefore` is only the part he did not
 * keep: continued, not sent whole again.
 */
export async function continuedFromKept(
  receiver: Page,
  receiverCard: Locator,
  expected: { original: string; size: number; kept: number; receivedBefore: number; label: string },
): Promise<void> {
  // The same card went on (no second one).
  expect(await receiverCard.count()).toBe(1);
  await expect.poll(() => receiverCard.getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
  const [download] = await Promise.all([
    receiver.waitForEvent('download'),
    receiverCard.getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(expected.original);
  // Continued from the kept bytes: what came after the new offer is only the part not kept.
  const receivedAgain = (await counted(receiver, '__bodyBytesReceived')) - expected.receivedBefore;
  console.log(
    `${expected.label}: kept ${expected.kept} of ${expected.size} bytes; the new sender sent ${receivedAgain}`,
  );
  expect(receivedAgain).toBeGreaterThan(0);
  expect(receivedAgain).toBeLessThanOrEqual(expected.size - expected.kept);
}
