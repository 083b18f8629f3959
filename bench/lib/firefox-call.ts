/**
 * `npm run bench:call -- --firefox` (see bench/call.ts): Ana in Firefox calls Bo in Chromium,
 * beside Ana in Chromium measured in the same run, calls alternated. Ana is, per
 * FIREFOX_SIDES (default guest,extension):
 *   - guest: her guest page (Firefox) against her guest page in Chromium;
 *   - extension: her extension overlay, the call started from the real popup (Firefox:
 *     dist-firefox-e2e, popup driven as in test/e2e/firefox-popup.ts; Chromium: dist-e2e, as
 *     the main bench), against the Chromium extension overlay.
 * Ana is in the room with her camera showing before Bo opens the link, so the popup's own
 * time is not counted.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame as ChromiumFrame, Page as ChromiumPage } from 'playwright-core';
import type { Frame as FirefoxFrame, Page as FirefoxPage } from 'puppeteer-core';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';
import { launchFirefox } from '../../test/e2e/firefox-harness.ts';
import { firefoxOverlayFrame, startFirefoxCall } from '../../test/e2e/firefox-popup.ts';
import { launchBrowser, ORDINARY_PAGE, ROOT, startPageServer } from '../../test/e2e/harness.ts';
import { launchExtensionUser, overlayFrame, startCallFromPopup } from '../../test/e2e/popup-driver.ts';
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
  /** Resolves once Ana's Chromium overlay waits in the room with her camera showing. */
  anaReady(overlay: ChromiumFrame): Promise<void>;
}

type Kind = 'chromium' | 'firefox' | 'chromium-extension' | 'firefox-extension';

/** Ana, in the room: where her remote video shows, the link Bo opens, and how she leaves. */
interface Ana {
  target: ChromiumPage | ChromiumFrame | FirefoxPage | FirefoxFrame;
  link: string;
  close(): Promise<void>;
}

/** The Firefox overlay waits in the room with Ana's camera showing (polled: the frame's CSP). */
async function firefoxOverlayReady(overlay: FirefoxFrame): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    const ready = await overlay.evaluate(
      () =>
        document.querySelector<HTMLElement>('.parley-app')?.dataset.state === 'waiting' &&
        (document.querySelector<HTMLVideoElement>('.parley-local-video')?.videoWidth ?? 0) > 0,
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error("Ana's Firefox overlay never showed her camera and 'Waiting for someone to join'");
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
  const sides = (process.env.FIREFOX_SIDES ?? 'guest,extension').split(',').map((s) => s.trim());
  const extension = sides.includes('extension');
  if (extension) {
    for (const dir of ['dist-e2e', 'dist-firefox-e2e'])
      if (!existsSync(join(ROOT, dir, 'manifest.json')))
        throw new Error(
          `The e2e extension builds are missing (${dir}/): run \`npm run build:ext:e2e && npm run build:firefox:e2e\` first.`,
        );
  }
  const kinds: Kind[] = [
    ...(sides.includes('guest') ? (['chromium', 'firefox'] as const) : []),
    ...(extension ? (['chromium-extension', 'firefox-extension'] as const) : []),
  ];
  console.log(
    `bench:call --firefox: ${calls} calls each (${kinds.join(', ')}), loopback, fake camera and microphone; ` +
      'Ana in Firefox (firefox-esr) or Chromium, Bo in Chromium (guest page)',
  );
  const server = await startServer({ LOG_LEVEL: 'warn' });
  const pages = await startPageServer({ '/': ORDINARY_PAGE });
  const [firefox, chromiumAna, bo, chromiumExtensionAna] = await Promise.all([
    launchFirefox({ extension: extension ? 'dist-firefox-e2e' : undefined }),
    launchBrowser({ extension: false }),
    launchBrowser({ extension: false }),
    extension ? launchExtensionUser() : undefined,
  ]);
  await bo.context.addInitScript(hooks.instrument);
  await bo.context.addInitScript(hooks.autoJoin);

  const anaJoins: Record<Kind, () => Promise<Ana>> = {
    async chromium() {
      const link = formatShareLink(newShareLink(server.url));
      const page = await chromiumAna.context.newPage();
      await anaWaits(page, link);
      return { target: page, link, close: () => page.close() };
    },
    async firefox() {
      const link = formatShareLink(newShareLink(server.url));
      const page = await firefox.newPage();
      await anaWaits(page, link);
      return { target: page, link, close: () => page.close() };
    },
    async 'chromium-extension'() {
      const user = chromiumExtensionAna!;
      const page = await user.context.newPage();
      await page.goto(`${pages.url}/`);
      const link = await startCallFromPopup(user, page, { server: server.url, name: 'Ana', media: 'video' });
      const overlay = await overlayFrame(page, user.extensionId);
      await hooks.anaReady(overlay);
      return { target: overlay, link, close: () => page.close() };
    },
    async 'firefox-extension'() {
      const page = await firefox.newPage();
      await page.goto(`${pages.url}/`, { waitUntil: 'domcontentloaded', timeout: 120_000 });
      await startFirefoxCall(firefox, page, { server: server.url, name: 'Ana', media: 'video' });
      const overlay = await firefoxOverlayFrame(page, 60_000);
      await firefoxOverlayReady(overlay);
      const link = await overlay.$eval('.parley-link-text', (el) => el.textContent ?? '');
      return { target: overlay, link, close: () => page.close() };
    },
  };

  const samples: Record<Kind, Sample[]> = {
    chromium: [],
    firefox: [],
    'chromium-extension': [],
    'firefox-extension': [],
  };
  try {
    for (let i = 0; i < calls; i++) {
      for (const who of kinds) {
        const ana = await anaJoins[who]();
        const boPage = await bo.context.newPage();
        const opened = Date.now();
        // Not waiting for `load` (the page joins and starts its camera meanwhile): a loaded
        // machine can take longer than the navigation timeout.
        await boPage.goto(ana.link, { waitUntil: 'commit', timeout: 120_000 });
        const frame = `(${hooks.firstFrame})('.parley-remote-video')`;
        const [a, b] = await Promise.all([
          (ana.target as ChromiumPage).evaluate(frame) as Promise<number>,
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
    await Promise.all([firefox.close(), chromiumAna.close(), bo.close(), chromiumExtensionAna?.close()]);
    await pages.close();
    await server.stop();
  }
  const sum = (xs: Sample[]) => ({
    link: median(xs.map((s) => s.linkToVideo)),
    linkWorst: Math.max(...xs.map((s) => s.linkToVideo)),
    join: median(xs.map((s) => s.joinToConnected)),
  });
  const summary: Record<string, unknown> = { bench: 'call-firefox' };
  console.log('');
  for (const [base, ff, label] of [
    ['chromium', 'firefox', 'guest page'],
    ['chromium-extension', 'firefox-extension', 'extension overlay'],
  ] as const) {
    if (!kinds.includes(base)) continue;
    const c = sum(samples[base]);
    const f = sum(samples[ff]);
    console.log(
      `Ana's ${label}, chromium ↔ chromium  link→video median ${c.link} ms (worst ${c.linkWorst}), join→connected median ${c.join} ms`,
    );
    console.log(
      `Ana's ${label}, firefox ↔ chromium   link→video median ${f.link} ms (worst ${f.linkWorst}), join→connected median ${f.join} ms`,
    );
    console.log(
      `  ratio firefox/chromium: link→video ${(f.link / c.link).toFixed(2)}, join→connected ${(f.join / c.join).toFixed(2)} (no goal yet)`,
    );
    const key = base === 'chromium' ? '' : 'extension_';
    Object.assign(summary, {
      [`chromium_${key}link_to_video_ms`]: c.link,
      [`firefox_${key}link_to_video_ms`]: f.link,
      [`chromium_${key}join_to_connected_ms`]: c.join,
      [`firefox_${key}join_to_connected_ms`]: f.join,
    });
  }
  console.log(JSON.stringify(summary));
}
