/**
 * Chrome stops idle extension service workers, and may do so mid-call. The worker holds the
 * signaling socket and the overlay's port, but not the call itself (that lives in the
 * overlay): stopping it must not drop the call, and signaling must come back on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
  remoteIndicators,
  startCallFromPopup,
} from './popup-driver.ts';

const REMOTE_VIDEO = '.parley-remote-video';

let server: ServerHandle;
let pages: PageServer;
let ana: ExtensionUser;
let guest: BrowserUser;

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

beforeAll(async () => {
  server = await startServer();
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, guest] = await Promise.all([launchExtensionUser(), launchBrowser()]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), guest?.close()]);
  await pages?.close();
  await server?.stop();
});

describe('the service worker stopped mid-call', () => {
  it('keeps the call going and recovers signaling (same peer id, popup hang-up still works)', async () => {
    const anaPage = await ana.context.newPage();
    await anaPage.goto(`${pages.url}/`);
    const link = await startCallFromPopup(ana, anaPage, { server: server.url, name: 'Ana', media: 'video' });
    const overlay = await overlayFrame(anaPage, ana.extensionId);
    const boPage = await guest.context.newPage();
    await boPage.goto(link);
    await boPage.getByRole('textbox', { name: 'Your name' }).fill('Bo');
    await boPage.getByRole('button', { name: 'Join call' }).click();
    await Promise.all([expectVideoPlaying(overlay, REMOTE_VIDEO), expectVideoPlaying(boPage, REMOTE_VIDEO)]);
    const resumesBefore = await metric('parley_resumes_total');

    // Stop the worker the way Chrome does when it idles it out (DevTools' "Stop").
    const cdp = await ana.context.newCDPSession(anaPage);
    const versions = new Map<string, { scriptURL: string; runningStatus: string }>();
    const history: string[] = [];
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions: updated }) => {
      for (const v of updated) {
        versions.set(v.versionId, { scriptURL: v.scriptURL, runningStatus: v.runningStatus });
        if (v.scriptURL.startsWith(`chrome-extension://${ana.extensionId}/`)) history.push(v.runningStatus);
      }
    });
    await cdp.send('ServiceWorker.enable');
    const ours = () =>
      [...versions.entries()].find(([, v]) =>
        v.scriptURL.startsWith(`chrome-extension://${ana.extensionId}/`),
      );
    await expect.poll(() => ours()?.[1].runningStatus).toBe('running');
    history.length = 0;
    await cdp.send('ServiceWorker.stopWorker', { versionId: ours()![0] });

    // It stops; the overlay's port reconnects, which starts the worker again, and the worker
    // reopens the signaling socket with the resume token.
    await expect.poll(() => history.includes('stopped'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => history.at(-1), { timeout: 15_000 }).toBe('running');
    expect(history.indexOf('stopped')).toBeLessThan(history.lastIndexOf('running'));
    await expect
      .poll(() => metric('parley_resumes_total'), { timeout: 20_000 })
      .toBeGreaterThan(resumesBefore);
    await expect.poll(() => metric('parley_sockets'), { timeout: 20_000 }).toBe(2);

    // The call itself never stopped: video still advancing on both sides.
    await Promise.all([expectVideoPlaying(overlay, REMOTE_VIDEO), expectVideoPlaying(boPage, REMOTE_VIDEO)]);
    await overlay.getByRole('button', { name: 'Mute microphone' }).click();
    await expect.poll(() => remoteIndicators(boPage)).toContain('Ana is muted');

    // The popup → worker → overlay path works after the restart: Hang up from the popup.
    const popup = await ana.openPopup(anaPage);
    await popup.click('Hang up');
    await popup.waitForStatus(/Call ended/);
    await popup.close();
    await expect.poll(() => overlayMounted(anaPage), { timeout: 10_000 }).toBe(false);
    await boPage.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: 15_000 });
    expect(await overlayMounted(anaPage)).toBe(false);
    await cdp.detach();
  });
});
