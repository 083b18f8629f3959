/**
 * A page that deletes the overlay mid-call must not end the call: the content script puts the
 * overlay back, the new overlay document gets a fresh capability and the same place in the
 * room (the service worker kept the socket and the peer id), and it connects again to the same
 * person, who sees the call interrupted for a moment, never "hung up". A page that navigates
 * away takes the overlay with it: the call goes on in its own window the same way. Leaving
 * for real still reaches the other side at once: Hang up, and a tab closing through the
 * service worker (it says bye for the overlay).
 *
 * Ana uses the extension (popup, overlay on an ordinary page); Bo opens the link as a guest.
 */
import type { Frame, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  type BrowserUser,
  expectVideoPlaying,
  launchBrowser,
  ORDINARY_PAGE,
  type PageServer,
  startPageServer,
} from './harness.ts';
import {
  configurePopup,
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
  remoteAudioPeak,
  startCallFromPopup,
} from './popup-driver.ts';

const REMOTE_VIDEO = '.parley-remote-video';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let bo: ExtensionUser;
let guest: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, bo, guest] = await Promise.all([launchExtensionUser(), launchExtensionUser(), launchBrowser()]);
  // Keep the guest page's peer connections within reach, to describe a failed call setup.
  await guest.context.addInitScript(`(() => {
    const Original = window.RTCPeerConnection;
    if (!Original || window.__pcs) return;
    window.__pcs = [];
    window.RTCPeerConnection = function (...args) {
      const pc = new Original(...args);
      window.__pcs.push(pc);
      return pc;
    };
    window.RTCPeerConnection.prototype = Original.prototype;
  })()`);
});

/** Pages a test opened: closed after it even when it failed, so the next one starts clean. */
const opened: Page[] = [];
let calls = 0;

async function newPage(user: { context: { newPage(): Promise<Page> } }): Promise<Page> {
  const page = await user.context.newPage();
  opened.push(page);
  return page;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((page) => page.close().catch(() => {})));
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

/** Ana starts a call from her popup, Bo joins as a guest; both see the other's video playing. */
async function callBetweenAnaAndBo(): Promise<{ anaPage: Page; overlay: Frame; boPage: Page }> {
  const anaPage = await newPage(ana);
  // A URL of its own, so the tab can be told apart from those of earlier calls.
  await anaPage.goto(`${pages.url}/?call=${++calls}`);
  const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'video' });
  const overlay = await overlayFrame(anaPage, ana.extensionId);
  const boPage = await newPage(guest);
  await boPage.goto(link);
  await boPage.getByRole('textbox', { name: 'Your name' }).fill('Bo');
  await boPage.getByRole('button', { name: 'Join call' }).click();
  try {
    await Promise.all([expectVideoPlaying(overlay, REMOTE_VIDEO), expectVideoPlaying(boPage, REMOTE_VIDEO)]);
  } catch (error) {
    const text = (target: Pick<Page, 'evaluate'>) =>
      target
        .evaluate(
          () =>
            `${document.body.innerText.replaceAll(/\s+/g, ' ')} | ${JSON.stringify(
              [...document.querySelectorAll('video')].map((v) => [
                v.className,
                v.videoWidth,
                v.readyState,
                v.currentTime,
                (v.srcObject as MediaStream | null)
                  ?.getTracks()
                  .map((t) => `${t.kind} ${t.readyState} ${t.muted}`),
              ]),
            )}`,
        )
        .catch((e) => String(e));
    const metrics = await fetch(`${server.url}/metrics`)
      .then((r) => r.text())
      .then((t) =>
        t.split('\n').filter((l) => /^parley_\w*(reject|error|connections|rooms|messages)/.test(l)),
      )
      .catch((e) => [String(e)]);
    const connections = await boPage
      .evaluate(async () => {
        const pcs = (window as unknown as { __pcs?: RTCPeerConnection[] }).__pcs ?? [];
        return Promise.all(
          pcs.map(async (pc) => {
            const pairs: string[] = [];
            const stats = await pc.getStats().catch(() => new Map());
            for (const r of stats.values()) {
              if (r.type === 'candidate-pair') pairs.push(`${r.state}${r.nominated ? '*' : ''}`);
            }
            const count = (sdp?: string) => (sdp?.match(/a=candidate/g) ?? []).length;
            return {
              states: [pc.signalingState, pc.iceGatheringState, pc.iceConnectionState, pc.connectionState],
              candidatesInSdp: [count(pc.localDescription?.sdp), count(pc.remoteDescription?.sdp)],
              pairs,
            };
          }),
        );
      })
      .catch((e) => String(e));
    console.log(
      `call setup failed. Ana: ${await text(overlay)}\nBo: ${await text(boPage)}\nBo's connections: ${JSON.stringify(connections)}\nserver: ${metrics.join('\n')}`,
    );
    throw error;
  }
  return { anaPage, overlay, boPage };
}

/** Mark the stream a remote video plays now, to tell the next connection's from it. */
function markRemoteStream(target: Pick<Page, 'evaluate'>): Promise<void> {
  return target.evaluate((sel) => {
    const stream = document.querySelector<HTMLVideoElement>(sel)?.srcObject as
      | (MediaStream & { old?: boolean })
      | null;
    if (stream) stream.old = true;
  }, REMOTE_VIDEO);
}

function newRemoteStream(target: Pick<Page, 'waitForFunction'>): Promise<unknown> {
  return target.waitForFunction(
    (sel) => {
      const stream = document.querySelector<HTMLVideoElement>(sel)?.srcObject as
        | (MediaStream & { old?: boolean })
        | null;
      return stream !== null && stream !== undefined && !stream.old;
    },
    REMOTE_VIDEO,
    { timeout: 15_000 },
  );
}

/** The overlay frame in Ana's page. */
function anaOverlayIn(page: Page): Frame {
  const frame = page
    .frames()
    .find((f) => f.url().startsWith(`chrome-extension://${ana.extensionId}/src/overlay/`));
  if (!frame) throw new Error("No overlay in Ana's page");
  return frame;
}

/** The overlay's call timer ("Call time 1:05"), in seconds. */
async function callSeconds(overlay: Frame): Promise<number> {
  const label = (await overlay.getByRole('timer').getAttribute('aria-label')) ?? '';
  const parts = /(\d+):(\d\d)(?::(\d\d))?$/.exec(label);
  if (!parts) return -1;
  const [h, m, sec] = parts[3] ? [parts[1], parts[2], parts[3]] : ['0', parts[1], parts[2]];
  return Number(h) * 3600 + Number(m) * 60 + Number(sec);
}

/**
 * After a reconnection: `watcher` plays a new remote stream (not the one marked old), and
 * remote video plays on every side again.
 */
async function playingAgain(
  watcher: Pick<Page, 'waitForFunction'>,
  sides: Array<Page | Frame>,
): Promise<void> {
  await newRemoteStream(watcher);
  await Promise.all(sides.map((side) => expectVideoPlaying(side, REMOTE_VIDEO, 15_000)));
}

/** Record, in Bo's page, every end screen that shows (title and message), as it happens. */
function watchEndScreen(page: Pick<Page, 'evaluate'>): Promise<void> {
  return page.evaluate(() => {
    const w = window as unknown as { __ends: string[] };
    w.__ends = [];
    setInterval(() => {
      const end = document.querySelector<HTMLElement>('.parley-end');
      const text = end && !end.hidden ? (end.textContent ?? '') : '';
      if (text && w.__ends.at(-1) !== text) w.__ends.push(text);
    }, 50);
  });
}

function endScreens(page: Pick<Page, 'evaluate'>): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __ends: string[] }).__ends);
}

/** The overlay frame whose document is not `old` (the re-mounted one), once its call UI is up. */
async function remountedOverlay(page: Page, old: Frame, user: ExtensionUser = ana): Promise<Frame> {
  let found: Frame | undefined;
  await expect
    .poll(
      async () => {
        found = page
          .frames()
          .find(
            (f) => f !== old && f.url().startsWith(`chrome-extension://${user.extensionId}/src/overlay/`),
          );
        return found ? found.getByRole('button', { name: 'Hang up' }).count() : 0;
      },
      { timeout: 10_000 },
    )
    .toBe(1);
  return found!;
}

describe('the page deletes the overlay in the middle of a call', () => {
  it('reconnects Ana and Bo within seconds; Bo never sees the call end; Hang up still reaches Bo at once', async () => {
    const { anaPage, overlay, boPage } = await callBetweenAnaAndBo();
    await watchEndScreen(boPage);
    await markRemoteStream(boPage);
    // A few seconds into the call, so that a timer starting again would show.
    await expect.poll(() => callSeconds(overlay), { timeout: 10_000 }).toBeGreaterThanOrEqual(4);

    const removedAt = Date.now();
    await anaPage.evaluate(() => document.querySelector('parley-overlay')?.remove());
    const next = await remountedOverlay(anaPage, overlay);
    await playingAgain(boPage, [next, boPage]);
    const reconnectMs = Date.now() - removedAt;
    console.log(`remount: remote video playing again on both sides ${reconnectMs} ms after the removal`);
    // The call timer carries on from when the call first connected: it does not restart at 0:00.
    expect(await callSeconds(next)).toBeGreaterThanOrEqual(4);
    expect(reconnectMs).toBeLessThan(15_000);
    expect(await remoteAudioPeak(next, REMOTE_VIDEO)).toBeGreaterThan(0.01);
    expect(await remoteAudioPeak(boPage, REMOTE_VIDEO)).toBeGreaterThan(0.01);
    // Bo's call never ended, and the timer kept running across the interruption.
    expect(await endScreens(boPage)).toEqual([]);
    expect(await boPage.locator('.parley-end').isHidden()).toBe(true);

    // Ana hangs up in the re-mounted overlay: Bo learns it at once.
    const hungUpAt = Date.now();
    await next.getByRole('button', { name: 'Hang up' }).click();
    await boPage.getByText('Ana hung up.').waitFor({ timeout: 5000 });
    console.log(`remount: Bo saw "Ana hung up." ${Date.now() - hungUpAt} ms after Hang up`);
    await expect.poll(() => overlayMounted(anaPage), { timeout: 10_000 }).toBe(false);
    await Promise.all([anaPage.close(), boPage.close()]);
  });

  it('with the extension on both sides: the overlay of the one who joined is deleted, twice', async () => {
    const anaPage = await newPage(ana);
    await anaPage.goto(`${pages.url}/?call=${++calls}`);
    const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'video' });
    const anaOverlay = await overlayFrame(anaPage, ana.extensionId);
    const boPage = await newPage(bo);
    await boPage.goto(`${pages.url}/`);
    const popup = await bo.openPopup(boPage);
    await configurePopup(popup, { server: server.url, name: 'Bo' });
    await popup.fill('Paste a call link', link);
    await popup.click('Join');
    await popup.waitForStatus(/Joining the call/);
    await popup.close();
    let boOverlay = await overlayFrame(boPage, bo.extensionId);
    await Promise.all([
      expectVideoPlaying(anaOverlay, REMOTE_VIDEO),
      expectVideoPlaying(boOverlay, REMOTE_VIDEO),
    ]);
    await watchEndScreen(anaOverlay);

    for (let round = 0; round < 2; round++) {
      await markRemoteStream(anaOverlay);
      await boPage.evaluate(() => document.querySelector('parley-overlay')?.remove());
      boOverlay = await remountedOverlay(boPage, boOverlay, bo);
      await playingAgain(anaOverlay, [anaOverlay, boOverlay]);
    }
    expect(await endScreens(anaOverlay)).toEqual([]);

    await boOverlay.getByRole('button', { name: 'Hang up' }).click();
    await anaOverlay.getByText('Bo hung up.').waitFor({ timeout: 5000 });
    await Promise.all([anaPage.close(), boPage.close()]);
  });

  it('an overlay that goes and does not come back: the service worker says bye for it after its grace', async () => {
    const { anaPage, boPage } = await callBetweenAnaAndBo();
    await watchEndScreen(boPage);
    // Stand-in for a re-mount that never comes: the content script takes the overlay down
    // for good (as on hang-up), without the overlay saying anything.
    const worker = await ana.serviceWorker();
    const tabId = await worker.evaluate(async (url) => {
      const [tab] = await chrome.tabs.query({ url });
      await chrome.tabs.sendMessage(tab!.id!, { parley: 'remove' }, { frameId: 0 });
      return tab!.id!;
    }, anaPage.url());
    expect(tabId).toBeGreaterThan(0);
    const goneAt = Date.now();
    await boPage.getByText('Ana hung up.').waitFor({ timeout: 10_000 });
    const ms = Date.now() - goneAt;
    console.log(`no re-mount: Bo saw "Ana hung up." ${ms} ms after the overlay went`);
    expect(ms).toBeGreaterThan(3000); // the grace was waited out, not cut short
    // Until then Bo saw the call as interrupted, not ended.
    expect((await endScreens(boPage)).length).toBe(1);
    await Promise.all([anaPage.close(), boPage.close()]);
  });

  it('when Ana navigates away, the call goes on in its own window (timer and chat too), and the popup brings it back onto her new page', async () => {
    const { anaPage, boPage } = await callBetweenAnaAndBo();
    await watchEndScreen(boPage);
    await markRemoteStream(boPage);
    await expect
      .poll(() => callSeconds(anaOverlayIn(anaPage)), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(3);
    // A few words each way before she leaves the page.
    const overlay = anaOverlayIn(anaPage);
    await boPage.getByRole('button', { name: 'Chat' }).click();
    await boPage.getByRole('textbox', { name: 'Message' }).fill('Hello from Bo');
    await boPage.getByRole('button', { name: 'Send', exact: true }).click();
    await overlay.getByRole('button', { name: 'Chat' }).click();
    await overlay.getByRole('list', { name: 'Messages' }).getByText('Hello from Bo').waitFor();
    await overlay.getByRole('textbox', { name: 'Message' }).fill('Hi Bo, one moment');
    await overlay.getByRole('button', { name: 'Send', exact: true }).click();
    await boPage.getByRole('list', { name: 'Messages' }).getByText('Hi Bo, one moment').waitFor();
    const windowOpened = ana.context.waitForEvent('page', {
      predicate: (p) => p.url().startsWith(`chrome-extension://${ana.extensionId}/src/overlay/window.html`),
      timeout: 10_000,
    });
    const leftAt = Date.now();
    await anaPage.goto(`${pages.url}/?elsewhere`);
    const win = await windowOpened;
    opened.push(win);
    await win.getByText('You left the page the call was on, so the call moved to its own window.').waitFor();
    await playingAgain(boPage, [win, boPage]);
    console.log(`navigated away: the call played again in its window ${Date.now() - leftAt} ms later`);
    expect(await endScreens(boPage)).toEqual([]);
    // Same call: the timer goes on, and the page Ana went to has no overlay.
    expect(await callSeconds(win.mainFrame())).toBeGreaterThanOrEqual(3);
    expect(await anaPage.locator('parley-overlay').count()).toBe(0);
    // And the chat so far is there, in order, and still works.
    await win.getByRole('button', { name: 'Chat' }).click();
    const list = win.getByRole('list', { name: 'Messages' });
    await list.getByText('Hi Bo, one moment').waitFor();
    expect(await list.locator('.parley-chat-text').allInnerTexts()).toEqual([
      'Hello from Bo',
      'Hi Bo, one moment',
    ]);
    await win.getByRole('textbox', { name: 'Message' }).fill('Back, from a window');
    await win.getByRole('button', { name: 'Send', exact: true }).click();
    await boPage.getByRole('list', { name: 'Messages' }).getByText('Back, from a window').waitFor();

    // From the popup on the page she is on now, Ana brings the call back into an overlay there.
    await markRemoteStream(boPage);
    const windowClosed = win.waitForEvent('close', { timeout: 10_000 });
    const popup = await ana.openPopup(anaPage);
    await popup.click('Move the call to this page');
    await popup.waitForStatus(/The call is on this page now/);
    await popup.close();
    await windowClosed;
    const back = await overlayFrame(anaPage, ana.extensionId);
    await playingAgain(boPage, [back, boPage]);
    expect(await endScreens(boPage)).toEqual([]);
    await back.getByRole('button', { name: 'Chat' }).click();
    await back.getByRole('list', { name: 'Messages' }).getByText('Back, from a window').waitFor();
    expect(await callSeconds(back)).toBeGreaterThanOrEqual(3);
    // Hang up still reaches Bo at once.
    await back.getByRole('button', { name: 'Hang up' }).click();
    await boPage.getByText('Ana hung up.').waitFor({ timeout: 5000 });
  });

  it('when Ana closes her tab, Bo learns the call is over within seconds', async () => {
    const { anaPage, boPage } = await callBetweenAnaAndBo();
    const closedAt = Date.now();
    await anaPage.close();
    await boPage
      .getByText(/Ana hung up\.|Connection lost/)
      .first()
      .waitFor({ timeout: 12_000 });
    console.log(
      `tab closed: Bo saw "${await boPage.locator('.parley-end').innerText()}" ${Date.now() - closedAt} ms later`,
    );
    await boPage.close();
  });
});
