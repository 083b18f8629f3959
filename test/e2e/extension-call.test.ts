/**
 * Calls as people make them: A clicks the toolbar button on an ordinary page and starts a
 * call from the real popup; B opens the link as a guest (no extension) or pastes it into
 * their own Parley popup. Real Chromium profiles with fake camera and microphone, the built
 * extension (dist-e2e) and the real signaling server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  type BrowserUser,
  expectVideoPlaying,
  launchBrowser,
  ORDINARY_PAGE,
  type PageServer,
  screenshot,
  startPageServer,
} from './harness.ts';
import {
  configurePopup,
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
  RECORD_MEDIA,
  recordedMedia,
  remoteAudioPeak,
  remoteIndicators,
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
  await Promise.all([guest, ana, bo].map((user) => user.context.addInitScript(RECORD_MEDIA)));
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

async function joinAsGuest(link: string, name: string) {
  const page = await guest.context.newPage();
  await page.goto(link);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  return page;
}

describe('a call started from the popup', () => {
  it('connects Ana (extension) with Bo opening the link as a guest: video, sound, mute, camera off, hang up', async () => {
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    const link = await startCallFromPopup(ana, anaPage, {
      server: server.url,
      name: 'Ana',
      media: 'video',
      screenshot: 'popup',
    });
    const overlay = await overlayFrame(anaPage, ana.extensionId);
    // The overlay shows the link it just copied, and waits.
    await expect
      .poll(() => overlay.evaluate(() => document.body.innerText), { timeout: 15_000 })
      .toContain(link);

    const boPage = await joinAsGuest(link, 'Bo');
    await Promise.all([expectVideoPlaying(overlay, REMOTE_VIDEO), expectVideoPlaying(boPage, REMOTE_VIDEO)]);
    expect(await remoteAudioPeak(overlay, REMOTE_VIDEO)).toBeGreaterThan(0.01);
    expect(await remoteAudioPeak(boPage, REMOTE_VIDEO)).toBeGreaterThan(0.01);
    await screenshot(anaPage, 'overlay-on-page');

    await overlay.getByRole('button', { name: 'Mute microphone' }).click();
    await expect.poll(() => remoteIndicators(boPage)).toContain('Ana is muted');
    await overlay.getByRole('button', { name: 'Turn camera off' }).click();
    await expect.poll(() => remoteIndicators(boPage)).toContain("Ana's camera is off");
    await boPage.getByRole('button', { name: 'Mute microphone' }).click();
    await expect.poll(() => remoteIndicators(overlay)).toContain('Bo is muted');

    await overlay.getByRole('button', { name: 'Hang up' }).click();
    // Ana's overlay goes away (its document, and with it every track, is gone)...
    await expect.poll(() => overlayMounted(anaPage), { timeout: 10_000 }).toBe(false);
    // ...and Bo's side ends too, with every track stopped.
    await boPage.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: 15_000 });
    await expect
      .poll(async () => (await recordedMedia(boPage)).tracks.filter((t) => t.readyState !== 'ended').length)
      .toBe(0);
    expect((await recordedMedia(boPage)).tracks.length).toBeGreaterThan(0);
    await Promise.all([anaPage.close(), boPage.close()]);
  });

  it('connects Ana with Bo who pastes the link into his own Parley popup', async () => {
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'video' });
    const anaOverlay = await overlayFrame(anaPage, ana.extensionId);

    const boPage = await bo.context.newPage();
    await boPage.goto(`${pages.url}/`);
    const popup = await bo.openPopup(boPage);
    await configurePopup(popup, { server: server.url, name: 'Bo' });
    await popup.fill('Paste a call link', link);
    await popup.click('Join');
    await popup.waitForStatus(/Joining the call/);
    await popup.close();
    const boOverlay = await overlayFrame(boPage, bo.extensionId);

    await Promise.all([
      expectVideoPlaying(anaOverlay, REMOTE_VIDEO),
      expectVideoPlaying(boOverlay, REMOTE_VIDEO),
    ]);
    expect(await remoteAudioPeak(anaOverlay, REMOTE_VIDEO)).toBeGreaterThan(0.01);
    expect(await remoteAudioPeak(boOverlay, REMOTE_VIDEO)).toBeGreaterThan(0.01);

    await boOverlay.getByRole('button', { name: 'Mute microphone' }).click();
    await expect.poll(() => remoteIndicators(anaOverlay)).toContain('Bo is muted');
    await boOverlay.getByRole('button', { name: 'Turn camera off' }).click();
    await expect.poll(() => remoteIndicators(anaOverlay)).toContain("Bo's camera is off");

    // Bo hangs up from his popup this time.
    const boPopup = await bo.openPopup(boPage);
    await boPopup.click('Hang up');
    await boPopup.waitForStatus(/Call ended/);
    await boPopup.close();
    await expect.poll(() => overlayMounted(boPage), { timeout: 10_000 }).toBe(false);
    await anaOverlay.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: 15_000 });
    await anaOverlay.getByRole('button', { name: 'Close' }).click();
    await expect.poll(() => overlayMounted(anaPage), { timeout: 10_000 }).toBe(false);
    await Promise.all([anaPage.close(), boPage.close()]);
  });

  it('keeps an audio-only call audio-only on both sides: no camera is asked for', async () => {
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'audio' });
    expect(link).toContain('?media=audio#');
    const overlay = await overlayFrame(anaPage, ana.extensionId);

    const boPage = await joinAsGuest(link, 'Bo');
    await expect
      .poll(() => remoteAudioPeak(overlay, '.parley-remote-audio'), { timeout: 20_000 })
      .toBeGreaterThan(0.01);
    await expect
      .poll(() => remoteAudioPeak(boPage, '.parley-remote-audio'), { timeout: 20_000 })
      .toBeGreaterThan(0.01);

    // Bo's page asked for the microphone only; Ana's overlay holds no video track either.
    const boMedia = await recordedMedia(boPage);
    expect(boMedia.calls.length).toBeGreaterThan(0);
    expect(boMedia.calls.every((c) => !c.video)).toBe(true);
    expect(boMedia.tracks.every((t) => t.kind === 'audio')).toBe(true);
    const anaMedia = await recordedMedia(overlay);
    expect(anaMedia.calls.length).toBeGreaterThan(0);
    expect(anaMedia.calls.every((c) => !c.video)).toBe(true);
    const anaKinds = await overlay.evaluate(() =>
      [...document.querySelectorAll('video, audio')].flatMap(
        (el) =>
          ((el as HTMLMediaElement).srcObject as MediaStream | null)?.getTracks().map((t) => t.kind) ?? [],
      ),
    );
    expect(anaKinds).not.toContain('video');
    expect(await overlay.evaluate(() => document.querySelectorAll('video.parley-remote-video').length)).toBe(
      0,
    );

    await overlay.getByRole('button', { name: 'Hang up' }).click();
    await expect.poll(() => overlayMounted(anaPage), { timeout: 10_000 }).toBe(false);
    await boPage.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: 15_000 });
    await Promise.all([anaPage.close(), boPage.close()]);
  });
});
