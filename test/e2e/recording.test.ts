/**
 * Recording with everyone's consent, between guest pages (real Chromium, real server; one
 * Chromium, a context per person, the fake camera scaled down). Ana asks, Bo declines:
 * nothing is recorded and both are told. Ana asks, Bo allows: about five seconds of call are
 * recorded with the red indicator on both sides the whole time, then Stop recording offers
 * the file, which Save downloads and ffprobe (Debian's ffmpeg) decodes: a video and an audio
 * stream, 4-7 s (as long as the recorder ran, 1 s less to 2 s more). Cy joining mid-recording is asked, and the recording pauses until Cy allows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { CHROME_FLAGS, chromePath, collectConsoleErrors, SMALL_CAMERA, screenshot } from './harness.ts';
import {
  INSTRUMENT,
  indicatorThroughout,
  loudness,
  packetTimes,
  pictureSpread,
  probe,
  requireFfprobe,
} from './recording-helpers.ts';

let server: ServerHandle;
let browser: Browser;
let downloads: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  await requireFfprobe();
  downloads = await mkdtemp(joinPath(tmpdir(), 'parley-recording-'));
  server = await startServer();
  browser = await chromium.launch({
    executablePath: chromePath(),
    headless: true,
    args: ['--headless=new', ...CHROME_FLAGS],
    ignoreDefaultArgs: ['--mute-audio'],
  });
});

afterAll(async () => {
  await browser?.close().catch(() => {});
  await server?.stop();
  if (downloads) await rm(downloads, { recursive: true, force: true });
});

interface Person {
  page: Page;
  errors: string[];
}

async function join(url: string, name: string): Promise<Person> {
  const context = await browser.newContext({
    viewport: { width: 960, height: 640 },
    permissions: ['camera', 'microphone'],
    acceptDownloads: true,
  });
  contexts.push(context);
  // A small camera: fewer pixels to draw on 2 cores.
  await context.addInitScript(SMALL_CAMERA, { width: 320, height: 240, fps: 15 });
  await context.addInitScript(INSTRUMENT);
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const errors = collectConsoleErrors(page);
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  await page.getByRole('button', { name: 'Join call' }).click();
  return { page, errors };
}

const indicator = (page: Page) => page.locator('.parley-recording');
const recorderStates = (page: Page) =>
  page.evaluate(() =>
    (window as unknown as { __recorders: MediaRecorder[] }).__recorders.map((r) => r.state),
  );
const question = (page: Page, from: string) =>
  page
    .getByRole('alertdialog', { name: 'Recording request' })
    .filter({ hasText: `${from} wants to record this call` });

/** Ana and Bo in a call, each seeing the other's tile. */
async function twoInACall(): Promise<{ ana: Person; bo: Person; url: string }> {
  const url = formatShareLink(newShareLink(server.url));
  const ana = await join(url, 'Ana');
  await ana.page.getByText('Waiting for someone to join').waitFor();
  const bo = await join(url, 'Bo');
  await Promise.all([
    ana.page.getByRole('group', { name: 'Bo' }).waitFor(),
    bo.page.getByRole('group', { name: 'Ana' }).waitFor(),
  ]);
  // Record is offered once someone else's link is open.
  await expect
    .poll(() => ana.page.getByRole('button', { name: 'Record', exact: true }).isEnabled(), {
      timeout: 60_000,
    })
    .toBe(true);
  return { ana, bo, url };
}

/** Save the offered recording; its path on disk. */
async function saveRecording(page: Page): Promise<{ path: string; name: string }> {
  const save = page.getByRole('button', { name: /^Save Parley recording / });
  await save.waitFor({ timeout: 60_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), save.click()]);
  const name = download.suggestedFilename();
  const path = joinPath(downloads, name);
  await download.saveAs(path);
  return { path, name };
}

describe('recording with consent on the guest page', () => {
  let ana: Person;
  let bo: Person;
  let url: string;

  test('Ana asks, Bo declines: nothing is recorded, and both are told', async () => {
    ({ ana, bo, url } = await twoInACall());
    await ana.page.getByRole('button', { name: 'Record', exact: true }).click();
    await ana.page.getByText('Asking Bo to allow recording…').waitFor();
    await ana.page.getByRole('button', { name: 'Cancel recording' }).waitFor();
    const asked = question(bo.page, 'Ana');
    await asked.waitFor();
    await asked.getByRole('button', { name: 'Decline' }).click();
    await Promise.all([
      ana.page.getByText('Bo declined recording').waitFor(),
      bo.page.getByText('Bo declined recording').waitFor(),
    ]);
    await ana.page.getByRole('button', { name: 'Record', exact: true }).waitFor();
    expect(await asked.count()).toBe(0);
    for (const p of [ana, bo]) expect(await indicator(p.page).isVisible()).toBe(false);
    // Nothing was recorded: no recorder was ever made, no recording offered.
    expect(await recorderStates(ana.page)).toEqual([]);
    expect(await ana.page.locator('.parley-rec-file').count()).toBe(0);
  });

  test('Bo allows: ~5 s recorded with the indicator on both sides throughout; Stop recording offers a WebM that decodes', async () => {
    await ana.page.getByRole('button', { name: 'Record', exact: true }).click();
    await question(bo.page, 'Ana').getByRole('button', { name: 'Allow' }).click();
    // Both sides show who records before anything is recorded.
    await bo.page.locator('.parley-recording', { hasText: 'Ana' }).waitFor();
    await ana.page.locator('.parley-recording', { hasText: 'you' }).waitFor();
    await expect.poll(() => recorderStates(ana.page), { timeout: 30_000 }).toEqual(['recording']);
    await ana.page.getByRole('button', { name: 'Stop recording' }).waitFor();

    // Five seconds of call (from the recorder's start, by the page's clock), then Stop
    // recording, clicked in the page itself at that moment (a click from here could come late
    // on a loaded machine).
    const stop = ana.page.getByRole('button', { name: 'Stop recording' });
    // Bo is told in a sentence shown for 10 s: watched from before the click (the checks below
    // can take longer than that on a loaded machine).
    const boTold = bo.page
      .getByText('Ana stopped recording')
      .waitFor({ timeout: 120_000 })
      .then(
        () => 'told',
        (err: unknown) => String(err),
      );
    const { since, stoppedAt } = await stop.evaluate(
      (button: HTMLButtonElement) =>
        new Promise<{ since: number; stoppedAt: number }>((resolve) => {
          const since = (window as unknown as { __recordingSince: number }).__recordingSince;
          setTimeout(
            () => {
              const stoppedAt = Date.now();
              button.click();
              resolve({ since, stoppedAt });
            },
            Math.max(0, since + 5000 - Date.now()),
          );
        }),
    );
    // The indicator, on both sides, all the while: Ana's from the moment her recorder started,
    // Bo's from the moment his Allow left his page (her recorder starts only once it arrives, so
    // before anything of his was recorded), to Stop recording, with no change in between (every
    // change logged as the DOM changed, however late a busy page's timers run).
    expect(await indicatorThroughout(ana.page, 'recorder-start', stoppedAt)).toEqual(['Recording · you']);
    expect(await indicatorThroughout(bo.page, 'allow-sent', stoppedAt)).toEqual(['Recording · Ana']);
    await expect.poll(() => indicator(bo.page).isVisible()).toBe(false);
    expect(await boTold).toBe('told');
    await screenshot(ana.page, 'recording-saved');
    const { path, name } = await saveRecording(ana.page);
    expect(name).toMatch(/^Parley recording \d{4}-\d{2}-\d{2} \d{2}-\d{2}-\d{2}\.webm$/);
    expect(await indicator(ana.page).isVisible()).toBe(false);
    // Open plays it in the call (an inert <video>), as a received video would.
    await ana.page.getByRole('button', { name: `Open ${name}` }).click();
    const viewer = ana.page.getByRole('dialog', { name });
    await viewer.waitFor();
    await expect
      .poll(() =>
        viewer.locator('video').evaluate((v: HTMLVideoElement) => v.readyState >= 2 && v.videoWidth),
      )
      .toBe(960);
    await viewer.getByRole('button', { name: 'Close' }).click();

    const media = await probe(path);
    const [video, audio] = [await packetTimes(path, 'v'), await packetTimes(path, 'a')];
    console.log(
      `[recording] ${name}: ${JSON.stringify(media)}; recorder ran ${stoppedAt - since} ms; ` +
        `video ${video[0]}-${video.at(-1)} s (${video.length} frames), sound ${audio[0]}-${audio.at(-1)} s`,
    );
    expect(media.streams).toEqual(['audio', 'video']);
    expect(media.codecs).toEqual(['opus', 'vp8']);
    // 4-7 s for the 5 s the recorder ran: as long as it ran (start to Stop, by Ana's clock), 1 s
    // less to 2 s more. (On a loaded machine Ana's page can click Stop late: its timer for the
    // 5 s fires when the page gets the CPU, and then more than 5 s were recorded.)
    const recorded = (stoppedAt - since) / 1000;
    expect(media.seconds).toBeGreaterThanOrEqual(recorded - 1);
    expect(media.seconds).toBeLessThanOrEqual(recorded + 2);
    // Not an empty picture or silence: a frame has the call's picture in it (the fake cameras'
    // moving pattern, the names), and the mix carries the fake microphones' beeps.
    const sound = await loudness(path);
    const spread = await pictureSpread(path);
    console.log(`[recording] picture spread ${spread.toFixed(1)}, loudest ${sound} dB`);
    expect(spread).toBeGreaterThan(8);
    expect(sound).toBeGreaterThan(-30);
  });

  test('Cy, joining mid-recording, is asked; the recording pauses until Cy allows', async () => {
    await ana.page.getByRole('button', { name: 'Record', exact: true }).click();
    await question(bo.page, 'Ana').getByRole('button', { name: 'Allow' }).click();
    await expect.poll(() => recorderStates(ana.page), { timeout: 30_000 }).toEqual(['inactive', 'recording']);

    const cy = await join(url, 'Cy');
    const asked = question(cy.page, 'Ana');
    await asked.waitFor();
    // Nothing of Cy is recorded while Cy has not answered: Ana's recorder is paused.
    await expect.poll(() => recorderStates(ana.page)).toEqual(['inactive', 'paused']);
    await ana.page
      .locator('.parley-recording', { hasText: 'Recording paused · you (waiting for Cy to allow)' })
      .waitFor();
    await bo.page.locator('.parley-recording', { hasText: 'Recording paused · Ana' }).waitFor();
    await cy.page.locator('.parley-recording', { hasText: 'Recording paused · Ana' }).waitFor();

    await asked.getByRole('button', { name: 'Allow' }).click();
    await expect.poll(() => recorderStates(ana.page)).toEqual(['inactive', 'recording']);
    for (const [p, text] of [
      [ana, 'Recording · you'],
      [bo, 'Recording · Ana'],
      [cy, 'Recording · Ana'],
    ] as const) {
      await expect.poll(() => indicator(p.page).textContent()).toBe(text);
    }

    // Hang-up finishes the file: it is offered on the end screen.
    await ana.page.getByRole('button', { name: 'Hang up' }).click();
    // Both recordings of this call are offered there (this one is finished by the hang-up).
    const endScreen = ana.page.getByRole('alertdialog', { name: 'Call ended' });
    await expect
      .poll(() => endScreen.getByRole('button', { name: /^Save Parley recording / }).count(), {
        timeout: 60_000,
      })
      .toBe(2);
    for (const p of [bo, cy]) await expect.poll(() => indicator(p.page).isVisible()).toBe(false);
    for (const p of [ana, bo, cy]) expect(p.errors).toEqual([]);
  }, 240_000);
});
