/**
 * `npm run bench:call -- --firefox` (see bench/call.ts): the guest page in Firefox calls a
 * Chromium guest, beside two Chromium guests measured in the same run, calls alternated.
 */
import type { Page as ChromiumPage } from 'playwright-core';
import type { Page as FirefoxPage } from 'puppeteer-core';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { launchFirefox } from '../../test/e2e/firefox-harness.ts';
import { launchBrowser } from '../../test/e2e/harness.ts';
import { startServer } from '../../test/helpers/server-process.ts';

interface Sample {
  linkToVideo: number;
  joinToConnected: number;
}

interface Hooks {
  /** Init script marking Bo's join and ICE connected (bench/call.ts INSTRUMENT). */
  instrument: string;
  /** Init script pressing "Join call" as soon as it exists. */
  autoJoin: string;
  /** Function text: resolves with Date.now() at the first shown remote frame. */
  firstFrame: string;
  marks(page: ChromiumPage): Promise<{ join?: number; connected?: number }>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Ana joins by the link and waits in the room, camera showing. */
async function anaWaits(page: ChromiumPage | FirefoxPage, link: string): Promise<void> {
  const waiting = `() => (document.body?.textContent ?? '').includes('Waiting for someone to join') &&
    (document.querySelector('.parley-local-video')?.videoWidth ?? 0) > 0`;
  if ('getByRole' in page) {
    await page.goto(link, { waitUntil: 'commit', timeout: 120_000 });
    await page.getByRole('textbox', { name: 'Your name' }).fill('Ana');
    await page.getByRole('button', { name: 'Join call' }).click();
    await page.waitForFunction(waiting, undefined, { timeout: 60_000, polling: 10 });
  } else {
    await page.goto(link, { waitUntil: 'domcontentloaded', timeout: 120_000 });
    await page.locator('::-p-aria(Your name[role="textbox"])').fill('Ana');
    await page.locator('::-p-aria(Join call[role="button"])').click();
    await page.waitForFunction(waiting, { timeout: 60_000, polling: 10 });
  }
}

export async function firefoxGuestBench(calls: number, hooks: Hooks): Promise<void> {
  console.log(
    `bench:call --firefox: ${calls} calls each, guest pages on loopback, fake camera and microphone; ` +
      'Ana in Firefox (firefox-esr) or Chromium, Bo in Chromium',
  );
  const server = await startServer({ LOG_LEVEL: 'warn' });
  const [firefox, chromiumAna, bo] = await Promise.all([
    launchFirefox(),
    launchBrowser({ extension: false }),
    launchBrowser({ extension: false }),
  ]);
  await bo.context.addInitScript(hooks.instrument);
  await bo.context.addInitScript(hooks.autoJoin);
  const samples: Record<'chromium' | 'firefox', Sample[]> = { chromium: [], firefox: [] };
  try {
    for (let i = 0; i < calls; i++) {
      for (const who of ['chromium', 'firefox'] as const) {
        const link = formatShareLink(newShareLink(server.url));
        const ana = who === 'firefox' ? await firefox.newPage() : await chromiumAna.context.newPage();
        await anaWaits(ana, link);
        const boPage = await bo.context.newPage();
        const opened = Date.now();
        // Not waiting for `load` (the page joins and starts its camera meanwhile): a loaded
        // machine can take longer than the navigation timeout.
        await boPage.goto(link, { waitUntil: 'commit', timeout: 120_000 });
        const frame = `(${hooks.firstFrame})('.parley-remote-video')`;
        const [a, b] = await Promise.all([
          (ana as ChromiumPage).evaluate(frame) as Promise<number>,
          boPage.evaluate(frame) as Promise<number>,
        ]);
        const m = await hooks.marks(boPage);
        const sample = { linkToVideo: Math.max(a, b) - opened, joinToConnected: m.connected! - m.join! };
        samples[who].push(sample);
        process.stdout.write(
          `  ${who} ↔ chromium call ${i + 1}: link→video ${sample.linkToVideo} ms, join→connected ${sample.joinToConnected} ms\n`,
        );
        await boPage.close();
        await ana.close();
      }
    }
  } finally {
    await Promise.all([firefox.close(), chromiumAna.close(), bo.close()]);
    await server.stop();
  }
  const sum = (xs: Sample[]) => ({
    link: median(xs.map((s) => s.linkToVideo)),
    linkWorst: Math.max(...xs.map((s) => s.linkToVideo)),
    join: median(xs.map((s) => s.joinToConnected)),
  });
  const c = sum(samples.chromium);
  const f = sum(samples.firefox);
  console.log('');
  console.log(
    `chromium ↔ chromium  link→video median ${c.link} ms (worst ${c.linkWorst}), join→connected median ${c.join} ms`,
  );
  console.log(
    `firefox ↔ chromium   link→video median ${f.link} ms (worst ${f.linkWorst}), join→connected median ${f.join} ms`,
  );
  console.log(
    `ratio firefox/chromium: link→video ${(f.link / c.link).toFixed(2)}, join→connected ${(f.join / c.join).toFixed(2)} (no goal yet)`,
  );
  console.log(
    JSON.stringify({
      bench: 'call-firefox',
      chromium_link_to_video_ms: c.link,
      firefox_link_to_video_ms: f.link,
      chromium_join_to_connected_ms: c.join,
      firefox_join_to_connected_ms: f.join,
    }),
  );
}
