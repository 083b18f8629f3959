/**
 * Firefox for end-to-end tests: Debian's firefox-esr (or FIREFOX_PATH) driven by
 * puppeteer-core over WebDriver BiDi, headless, a fresh profile per user, fake camera and
 * microphone by prefs (no permission prompt: nobody could answer it headless). With
 * `extension`, the built Firefox extension is installed temporarily over BiDi and its
 * moz-extension:// URL is pinned by pref, so tests know it in advance.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Frame, type Page } from 'puppeteer-core';
import { ROOT } from './harness.ts';

export const FIREFOX_INSTALL =
  'Firefox not found. Install it with `sudo apt-get install firefox-esr` (Debian/Ubuntu) or set FIREFOX_PATH to a Firefox binary.';

/** FIREFOX_PATH when set (it must exist: no silent fallback), else Debian's firefox-esr or firefox. */
export function firefoxPath(): string {
  const chosen = process.env.FIREFOX_PATH;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`FIREFOX_PATH=${chosen} does not exist. ${FIREFOX_INSTALL}`);
    return chosen;
  }
  const found = ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p));
  if (!found) throw new Error(FIREFOX_INSTALL);
  return found;
}

const FAKE_MEDIA_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  // Keep loopback ICE candidates (Firefox hides host addresses behind mDNS names otherwise).
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.peerconnection.ice.loopback': true,
  'dom.events.asyncClipboard.readText': true,
  'dom.events.testing.asyncClipboard': true,
};

export interface FirefoxUser {
  browser: Browser;
  /** The extension's base URL (moz-extension://<uuid>/), when installed. */
  extensionBase?: string;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** The gecko id the Firefox build declares (read from the built manifest). */
function geckoId(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    browser_specific_settings?: { gecko?: { id?: string } };
  };
  const id = manifest.browser_specific_settings?.gecko?.id;
  if (!id) throw new Error(`${dir}/manifest.json has no browser_specific_settings.gecko.id`);
  return id;
}

export async function launchFirefox(
  options: {
    extension?: 'dist-firefox' | 'dist-firefox-e2e';
    /** Save downloads into this folder without asking. */
    downloads?: string;
    /** More Firefox prefs for this profile. */
    prefs?: Record<string, unknown>;
  } = {},
): Promise<FirefoxUser> {
  const executablePath = firefoxPath();
  let dir: string | undefined;
  const prefs: Record<string, unknown> = { ...FAKE_MEDIA_PREFS, ...options.prefs };
  if (options.downloads) {
    Object.assign(prefs, {
      'browser.download.folderList': 2,
      'browser.download.dir': options.downloads,
      'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
      'browser.download.start_downloads_in_tmp_dir': false,
      // The downloads panel would stay open, and action.openPopup() refuses while it is.
      'browser.download.alwaysOpenPanel': false,
    });
  }
  let extensionBase: string | undefined;
  if (options.extension) {
    dir = join(ROOT, options.extension);
    if (!existsSync(join(dir, 'manifest.json'))) {
      throw new Error(
        `The Firefox extension is not built in ${options.extension}/: run \`npm run build:firefox\` (and \`npm run build:firefox:e2e\`).`,
      );
    }
    const uuid = randomUUID();
    prefs['extensions.webextensions.uuids'] = JSON.stringify({ [geckoId(dir)]: uuid });
    extensionBase = `moz-extension://${uuid}/`;
  }
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath,
      headless: true,
      // Lets tests open the extension's pages over BiDi (refused otherwise); tests only.
      args: ['--remote-allow-system-access', '--width=1280', '--height=800'],
      extraPrefsFirefox: prefs,
      // A launch takes 2-10 s, far longer on a loaded 2-core machine.
      timeout: 120_000,
      protocolTimeout: 120_000,
    });
  } catch (error) {
    throw new Error(
      `Firefox (${executablePath}) did not start: ${String(error)}. If it is missing or broken: \`sudo apt-get install firefox-esr\`, or set FIREFOX_PATH.`,
    );
  }
  if (dir) await browser.installExtension(dir);
  return {
    browser,
    extensionBase,
    newPage: () => browser.newPage(),
    close: () => browser.close().catch(() => {}),
  };
}

/** Console errors and uncaught exceptions of a Firefox page. */
export function collectFirefoxErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

/** Resolves once the first <video> matching `selector` has shown `count` new frames. */
export function firefoxFramesAdvance(target: Page | Frame, selector: string, count = 3): Promise<boolean> {
  return target.evaluate(
    (sel, n) =>
      new Promise<boolean>((resolve) => {
        const v = document.querySelector(sel) as HTMLVideoElement;
        let seen = 0;
        const tick = () => {
          if (++seen >= n) resolve(true);
          else v.requestVideoFrameCallback(tick);
        };
        v.requestVideoFrameCallback(tick);
      }),
    selector,
    count,
  );
}
