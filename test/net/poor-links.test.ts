/**
 * Calls over poor links (the lab in lab.ts): what a person sees and hears, measured on both
 * sides from the pages' own counters (frames presented by the remote <video>; frames decoded
 * and audio concealment from getStats), and what the quality indicator says.
 *
 * - Ana behind a link with 75 ms each way (150 ms round trip) and 3% loss each way.
 * - Carla behind a home router whose line is capped at 1 Mbit/s in both directions.
 * Either way video and audio go on, the indicator tells the truth, chat arrives, and a file
 * arrives byte-exact.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { card, dropTestFiles, makeFiles, sha256OfDownload } from '../e2e/files-helpers.ts';
import {
  chat,
  counters,
  hangUp,
  join,
  newLink,
  RECORD_CONNECTIONS,
  videoFlowing,
  watch,
} from './call-page.ts';
import { type LabBrowser, NetLab, type TunLink } from './lab.ts';

let lab: NetLab;
let ana: LabBrowser;
let carla: LabBrowser;
let bruno: LabBrowser;
let anaLink: TunLink;

beforeAll(async () => {
  lab = await NetLab.create();
  const lossy = await lab.addHome('lossy', { kind: 'nat' });
  const slow = await lab.addHome('slow', { kind: 'nat', rateKbit: 1000 });
  const brunoHome = await lab.addHome('brunohome', { kind: 'nat' });
  await lab.startServices();
  const overTun = await lab.addHostOverTun('ana', lossy);
  anaLink = overTun.link;
  await anaLink.set({ delayMs: 75, jitterMs: 0, loss: 0.03 });
  ana = await lab.launchBrowser(overTun.host);
  carla = await lab.launchBrowser(await lab.addHost('carla', [slow]));
  bruno = await lab.launchBrowser(await lab.addHost('bruno', [brunoHome]));
  for (const b of [ana, carla, bruno]) await b.context.addInitScript(RECORD_CONNECTIONS);
});

afterAll(async () => {
  await lab?.close();
});

/** Over `ms`: frames decoded per second, the share of audio samples concealed, frames shown. */
async function measure(page: Page, ms: number) {
  const before = await counters(page);
  await new Promise((r) => setTimeout(r, ms));
  const after = await counters(page);
  const seconds = (after.at - before.at) / 1000;
  const samples = after.samples - before.samples;
  return {
    decodedFps: Math.round(((after.framesDecoded - before.framesDecoded) / seconds) * 10) / 10,
    concealedRatio:
      samples > 0 ? Math.round(((after.concealed - before.concealed) / samples) * 1000) / 1000 : 1,
    shown: await watch(page, ms),
  };
}

/** The quality indicator's label for `name` on `page` (e.g. "Bruno: Connection fair, 152 ms"). */
function indicator(page: Page, name: string): Promise<string> {
  return page
    .getByRole('img', { name: new RegExp(`^${name}: Connection`) })
    .first()
    .getAttribute('aria-label')
    .then((label) => label ?? '');
}

/** A small file from one page to the other, saved there: its SHA-256 matches. */
async function sendFile(from: Page, to: Page, name: string): Promise<void> {
  const originals = await makeFiles(from, [{ kind: 'random', name, size: 256 * 1024 }]);
  await dropTestFiles(from);
  await expect.poll(() => card(to, name).getAttribute('data-state'), { timeout: 60_000 }).toBe('done');
  const [download] = await Promise.all([
    to.waitForEvent('download'),
    card(to, name).getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(originals[name]?.sha256);
}

/** Both sides: steady video, a 10 s measurement, chat both ways, a file each way. */
async function callOver(
  link: string,
  mine: LabBrowser,
  myName: string,
  label: string,
): Promise<{ mine: Page; theirs: Page; seen: Record<string, Awaited<ReturnType<typeof measure>>> }> {
  const m = await join(mine, link, myName);
  const b = await join(bruno, link, 'Bruno');
  await Promise.all([videoFlowing(m, 90_000), videoFlowing(b, 90_000)]);
  const [seenMine, seenBruno] = await Promise.all([measure(m, 10_000), measure(b, 10_000)]);
  console.info(`${label}: ${myName} ${JSON.stringify(seenMine)}, Bruno ${JSON.stringify(seenBruno)}`);
  return { mine: m, theirs: b, seen: { [myName]: seenMine, Bruno: seenBruno } };
}

test('150 ms round trip and 3% loss: video and audio go on, the indicator says fair, chat and a file arrive', async () => {
  const { mine: a, theirs: b, seen } = await callOver(newLink(), ana, 'Ana', '150 ms, 3% loss');
  try {
    for (const side of Object.values(seen)) {
      // Video goes on: frames decoded and shown, no freeze of a second.
      expect(side.decodedFps).toBeGreaterThan(5);
      expect(side.shown.longestGapMs).toBeLessThan(1000);
      // Audio goes on: most of what plays is what was said (the rest is concealment).
      expect(side.concealedRatio).toBeLessThan(0.2);
    }
    // Loss above 2% (and a round trip of 150 ms) is "fair" on both sides, with the round trip.
    for (const [page, other] of [
      [a, 'Bruno'],
      [b, 'Ana'],
    ] as const) {
      await expect
        .poll(() => indicator(page, other), { timeout: 20_000 })
        .toMatch(/Connection (fair|poor), (1[4-9]\d|[2-9]\d\d) ms/);
    }
    const drops = await anaLink.stats();
    console.info(
      `150 ms, 3% loss: indicators "${await indicator(a, 'Bruno')}" / "${await indicator(b, 'Ana')}"; link ${JSON.stringify(drops)}`,
    );
    expect(drops.dropped).toBeGreaterThan(0);
    await chat(a, b, 'Can you hear me?');
    await chat(b, a, 'Yes, a bit late');
    await sendFile(a, b, 'notes.bin');
  } finally {
    await hangUp(a, b);
  }
});

test('a 1 Mbit/s line: video and audio go on, the indicator says our video is short of bandwidth, chat and a file arrive', async () => {
  const { mine: c, theirs: b, seen } = await callOver(newLink(), carla, 'Carla', '1 Mbit/s');
  try {
    for (const side of Object.values(seen)) {
      expect(side.decodedFps).toBeGreaterThan(5);
      expect(side.shown.longestGapMs).toBeLessThan(1000);
      expect(side.concealedRatio).toBeLessThan(0.2);
    }
    await expect.poll(() => indicator(c, 'Bruno'), { timeout: 30_000 }).toMatch(/short of bandwidth/);
    console.info(`1 Mbit/s: indicators "${await indicator(c, 'Bruno')}" / "${await indicator(b, 'Carla')}"`);
    await chat(c, b, 'Slow line here');
    await chat(b, c, 'Looks fine');
    await sendFile(c, b, 'slides.bin');
  } finally {
    await hangUp(c, b);
  }
});
