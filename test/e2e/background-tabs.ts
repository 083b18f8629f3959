/**
 * A Chromium whose tabs go to the background as a person's do: the tab in front is visible,
 * the others are `document.visibilityState === 'hidden'`, with their timers throttled to about
 * one wake-up a second.
 *
 * Two things stop that in the usual harness (measured with Chromium 156, headless=new): the
 * test flags keep background timers at full speed (--disable-background-timer-throttling, left
 * out here), and Playwright enables focus emulation on every page it drives,
 * which holds each tab as if it were being captured, so it stays "visible" behind another tab.
 * So Chromium is started here with a DevTools port, and Playwright attaches with `noDefaults`,
 * which leaves focus emulation off in the browser's default context. Pages are tabs of one
 * window there: `context.newPage()` opens a tab in front, `page.bringToFront()` selects one.
 *
 * A background tab that plays sound (a call page playing the others' voices) is not throttled
 * by Chromium; `muted` makes it inaudible, so that it is.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { freePort } from '../helpers/server-process.ts';
import { CHROME_FLAGS, chromePath } from './harness.ts';

// Left out: background tabs' timers are throttled again. --disable-renderer-backgrounding stays:
// it only keeps a background tab's renderer at normal CPU priority, which on the test machine's
// two busy cores would otherwise starve it (a loaded test machine, not a person's computer).
const KEEP_BACKGROUND_AWAKE = new Set([
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
]);

export interface TabbedBrowser {
  browser: Browser;
  /** The default context: its pages are tabs of one window. */
  context: BrowserContext;
  /** Where downloads (Save) land. */
  downloads: string;
  /** The path of the first download named `name` once it is complete. */
  downloaded(name: RegExp, timeout?: number): Promise<string>;
  close(): Promise<void>;
}

export async function launchWithBackgroundTabs(
  options: {
    /**
     * Mute the browser (--mute-audio): a tab that plays sound, as a call page does, is not
     * throttled in the background; a muted one is (timers about once a second; measured).
     */
    muted?: boolean;
  } = {},
): Promise<TabbedBrowser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'parley-tabs-'));
  const downloads = await mkdtemp(join(tmpdir(), 'parley-tabs-downloads-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    chromePath(),
    [
      '--headless=new',
      `--remote-debugging-port=${port}`,
      `--user-data-dir=${userDataDir}`,
      '--window-size=960,640',
      ...CHROME_FLAGS.filter((flag) => !KEEP_BACKGROUND_AWAKE.has(flag)),
      ...(options.muted ? ['--mute-audio'] : []),
      'about:blank',
    ],
    { stdio: 'ignore' },
  );
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await fetch(`${base}/json/version`)
      .then((r) => r.ok)
      .catch(() => false);
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`Chromium did not open its DevTools port ${port} within 30 s.`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const browser = await chromium.connectOverCDP(base, { noDefaults: true, isLocal: true });
  const context = browser.contexts()[0];
  if (!context) throw new Error('Chromium has no default context.');
  await context.grantPermissions(['camera', 'microphone']);
  // Save (an <a download>) writes into `downloads` under its own name, as a person's browser would.
  const cdp = await browser.newBrowserCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });

  return {
    browser,
    context,
    downloads,
    async downloaded(name, timeout = 60_000) {
      const until = Date.now() + timeout;
      for (;;) {
        const found = (await readdir(downloads)).find((f) => name.test(f) && !f.endsWith('.crdownload'));
        if (found) return join(downloads, found);
        if (Date.now() > until)
          throw new Error(`No download named ${name} in ${downloads} after ${timeout} ms.`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async close() {
      await browser.close().catch(() => {});
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
      await rm(downloads, { recursive: true, force: true }).catch(() => {});
    },
  };
}
