/**
 * Screen sharing between guest pages (real Chromium, real server; with the fake media UI,
 * Chromium's getDisplayMedia returns a fake 1280×720 "screen" with an audio track at once).
 * The other side sees "Ana's screen" as a tile of its own whose frames advance while Ana's
 * camera tile keeps playing; Ana's camera steps down meanwhile; Bo, joining while Ana already
 * shares, sees it; Stop sharing, and the browser's own stop, remove it on both sides. (Three
 * people with a share in progress: the unit tests in src/call/screen-share.test.ts.)
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { type BrowserUser, collectConsoleErrors, launchBrowser, screenshot } from './harness.ts';

/** Records every peer connection the page makes. */
const INSTRUMENT = () => {
  const w = window as unknown as { __pcs: RTCPeerConnection[] };
  w.__pcs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      w.__pcs.push(this);
    }
  } as typeof RTCPeerConnection;
};

let server: ServerHandle;
let ana: BrowserUser;
let bo: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  [ana, bo] = await Promise.all([launchBrowser(), launchBrowser()]);
  for (const user of [ana, bo]) await user.context.addInitScript(INSTRUMENT);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await server?.stop();
});

async function join(context: BrowserContext, url: string, name: string) {
  const page = await context.newPage();
  const errors = collectConsoleErrors(page);
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  return { page, errors };
}

/**
 * Frames presented by the video in `selector` (requestVideoFrameCallback) within `ms`, and
 * its size: proof that it plays, not just that it exists.
 */
function framesIn(page: Page, selector: string, ms = 1500) {
  return page.evaluate(
    ({ selector, ms }) =>
      new Promise<{ frames: number; width: number }>((resolve) => {
        const video = document.querySelector(selector) as HTMLVideoElement | null;
        if (!video) {
          resolve({ frames: 0, width: 0 });
          return;
        }
        let frames = 0;
        const tick = () => {
          frames++;
          video.requestVideoFrameCallback(tick);
        };
        video.requestVideoFrameCallback(tick);
        setTimeout(() => resolve({ frames, width: video.videoWidth }), ms);
      }),
    { selector, ms },
  );
}

/** Until the video in `selector` presents frames (on a loaded machine it may take a while). */
async function expectFrames(page: Page, selector: string): Promise<void> {
  await expect
    .poll(async () => (await framesIn(page, selector)).frames, { timeout: 30_000 })
    .toBeGreaterThan(3);
}

const SCREEN_VIDEO = '.parley-tile[data-source="screen"] video';
const CAMERA_VIDEO = '.parley-tile[data-source="camera"] video';

/** Ana's camera sender's encoding and her screen senders, as her connections have them. */
function anaSenders(page: Page) {
  return page.evaluate(() => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.filter(
      (pc) => pc.signalingState !== 'closed',
    );
    const senders = pcs.flatMap((pc) => pc.getSenders());
    const camera = senders.filter((s) => s.track?.kind === 'video' && s.track.contentHint !== 'detail');
    const screen = senders.filter((s) => s.track?.contentHint === 'detail');
    return {
      cameraScale: camera.map((s) => s.getParameters().encodings[0]?.scaleResolutionDownBy ?? 1),
      screens: screen.length,
    };
  });
}

interface Joined {
  page: Page;
  errors: string[];
}

describe('screen sharing on the guest page', () => {
  let a: Joined;
  let b: Joined;

  test('Ana shares while waiting; Bo, joining during the share, sees "Ana\'s screen" playing beside her camera, with Full screen; her camera steps down', async () => {
    const url = formatShareLink(newShareLink(server.url));
    a = await join(ana.context, url, 'Ana');
    await a.page.getByText('Waiting for someone to join').waitFor();
    await a.page.getByRole('button', { name: 'Share screen' }).click();
    await expect
      .poll(() => a.page.getByRole('button', { name: 'Stop sharing' }).getAttribute('aria-pressed'))
      .toBe('true');
    await a.page.getByText('You are sharing your screen').waitFor();

    // Bo joins during the share: a tile for Ana's camera and one for her screen, both playing.
    b = await join(bo.context, url, 'Bo');
    const anaScreen = b.page.getByRole('group', { name: "Ana's screen" });
    await anaScreen.waitFor({ timeout: 60_000 });
    await expectFrames(b.page, SCREEN_VIDEO);
    await expectFrames(b.page, CAMERA_VIDEO);
    // Both at once: the share, and the camera beside it, each presenting frames.
    await expect
      .poll(
        async () => {
          const [screenNow, cameraNow] = await Promise.all([
            framesIn(b.page, SCREEN_VIDEO),
            framesIn(b.page, CAMERA_VIDEO),
          ]);
          return screenNow.frames > 3 && cameraNow.frames > 3;
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    expect(await b.page.locator('.parley-tile').count()).toBe(2);
    await b.page.locator('.parley-tile[data-source="camera"]', { hasText: 'Ana' }).waitFor();
    // Ana's camera stepped down for the share; the share is sent with the "detail" hint.
    await expect.poll(async () => (await anaSenders(a.page)).cameraScale).toEqual([2]);
    expect((await anaSenders(a.page)).screens).toBe(1);
    await screenshot(b.page, 'screen-share-receiver');

    // Full screen, and back.
    await anaScreen.getByRole('button', { name: 'Full screen' }).click();
    await expect
      .poll(() => b.page.evaluate(() => document.fullscreenElement?.getAttribute('data-source') ?? null))
      .toBe('screen');
    await anaScreen.getByRole('button', { name: 'Exit full screen' }).click();
    await expect.poll(() => b.page.evaluate(() => document.fullscreenElement === null)).toBe(true);
  });

  test('Stop sharing removes it on both sides; her camera steps back up and keeps playing', async () => {
    await a.page.getByRole('button', { name: 'Stop sharing' }).click();
    await Promise.all([
      b.page.getByRole('group', { name: "Ana's screen" }).waitFor({ state: 'detached' }),
      a.page.getByRole('button', { name: 'Share screen' }).waitFor(),
    ]);
    expect(await a.page.getByText('You are sharing your screen').count()).toBe(0);
    await expect.poll(async () => (await anaSenders(a.page)).cameraScale).toEqual([1]);
    await expectFrames(b.page, CAMERA_VIDEO);
  });

  test("sharing again works, and the browser's own stop ends it on both sides; Bo can share too", async () => {
    await a.page.getByRole('button', { name: 'Share screen' }).click();
    await b.page.getByRole('group', { name: "Ana's screen" }).waitFor();
    await expectFrames(b.page, SCREEN_VIDEO);
    // Chrome's "Stop sharing" bar ends the capture track; headless has no bar, so the test
    // ends the track and fires its 'ended' as the browser does.
    await a.page.evaluate(() => {
      const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs;
      const track = pcs
        .flatMap((pc) => pc.getSenders())
        .find((s) => s.track?.contentHint === 'detail')?.track;
      track?.stop();
      track?.dispatchEvent(new Event('ended'));
    });
    await Promise.all([
      b.page.getByRole('group', { name: "Ana's screen" }).waitFor({ state: 'detached' }),
      a.page.getByRole('button', { name: 'Share screen' }).waitFor(),
    ]);

    // The same source, from the other person.
    await b.page.getByRole('button', { name: 'Share screen' }).click();
    await a.page.getByRole('group', { name: "Bo's screen" }).waitFor();
    await expectFrames(a.page, SCREEN_VIDEO);

    for (const p of [a, b]) expect(p.errors).toEqual([]);
    await Promise.all([a.page.close(), b.page.close()]);
  });
});
