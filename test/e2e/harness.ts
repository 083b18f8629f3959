/**
 * End-to-end harness: real Debian Chromium (or CHROME_PATH) driven by playwright-core, one
 * persistent profile per user, fake camera and microphone, optionally with the built
 * extension loaded. Flags verified on this machine (see docs/architecture.md).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Frame, type Page, type Worker } from 'playwright-core';
import { ROOT } from '../helpers/server-process.ts';

export { ROOT };
export const ARTIFACTS = join(ROOT, 'artifacts');

export function chromePath(): string {
  const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    (p): p is string => Boolean(p),
  );
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      'Chromium not found. Install it with `sudo apt-get install chromium` (Debian/Ubuntu) or set CHROME_PATH to a Chromium/Chrome binary.',
    );
  }
  return found;
}

export const CHROME_FLAGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--no-sandbox',
  '--no-first-run',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  // Keep timers and rendering running in background/occluded headless tabs.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export interface LaunchOptions {
  /** Load the built extension from this folder (relative to the repo root). */
  extension?: 'dist' | 'dist-e2e' | false;
  /** Extra command-line flags. */
  args?: string[];
}

export interface BrowserUser {
  context: BrowserContext;
  userDataDir: string;
  extensionId?: string;
  serviceWorker?: Worker;
  close(): Promise<void>;
}

export function extensionArgs(folder: string): string[] {
  const dir = join(ROOT, folder);
  if (!existsSync(join(dir, 'manifest.json'))) {
    throw new Error(
      `The extension is not built in ${folder}/: run \`npm run build\` (and \`npm run build:ext:e2e\`).`,
    );
  }
  return [`--disable-extensions-except=${dir}`, `--load-extension=${dir}`];
}

export async function launchBrowser(options: LaunchOptions = {}): Promise<BrowserUser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'parley-profile-'));
  const args = [
    ...CHROME_FLAGS,
    ...(options.extension ? extensionArgs(options.extension) : []),
    ...(options.args ?? []),
  ];
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromePath(),
    headless: true,
    args: ['--headless=new', ...args],
    ignoreDefaultArgs: ['--disable-extensions', '--mute-audio'],
    viewport: { width: 1280, height: 800 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write', 'camera', 'microphone']);
  let serviceWorker: Worker | undefined;
  let extensionId: string | undefined;
  if (options.extension) {
    serviceWorker =
      context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 15_000 }));
    extensionId = new URL(serviceWorker.url()).host;
  }
  return {
    context,
    userDataDir,
    extensionId,
    serviceWorker,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

export interface TestPage {
  body: string;
  headers?: Record<string, string>;
}

export interface PageServer {
  url: string;
  server: Server;
  /** Requests seen, for tests that check what a page fetched. */
  requests: { url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** Serves the given pages (path → body/headers) on 127.0.0.1 at a free port. */
export async function startPageServer(pages: Record<string, TestPage>): Promise<PageServer> {
  const requests: PageServer['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    const page = pages[(req.url ?? '/').split('?')[0] ?? '/'];
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...page.headers }).end(page.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An ordinary page to start calls from. */
export const ORDINARY_PAGE: TestPage = {
  body: '<!doctype html><html lang="en"><head><title>An ordinary page</title></head><body><h1>Recipes</h1><p>Some text on a page.</p></body></html>',
};

/** Console errors and uncaught exceptions of a page, for "loads without errors" checks. */
/** The size of the fake camera a page opens: small media so that several people fit on 2 cores. */
export interface CameraSize {
  width: number;
  height: number;
  fps: number;
}

/**
 * An init script (`context.addInitScript(SMALL_CAMERA, size)`) that makes every camera the
 * page opens `width`×`height` at most `fps` frames a second.
 */
export const SMALL_CAMERA = ({ width, height, fps }: CameraSize) => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = (constraints?: MediaStreamConstraints) => {
    const c = { ...(constraints ?? {}) };
    if (c.video) {
      c.video = {
        ...(typeof c.video === 'object' ? c.video : {}),
        width: { exact: width },
        height: { exact: height },
        frameRate: { max: fps },
      };
    }
    return original(c);
  };
};

/** 160×120 at 10 fps: the group calls' size. */
export const TINY_CAMERA: CameraSize = { width: 160, height: 120, fps: 10 };

/**
 * Waits until exactly `count` remote camera videos each presented a few new frames, counted
 * (requestVideoFrameCallback) from this call on: each `round` counts afresh.
 */
export async function seesVideos(
  target: Page | Frame,
  count: number,
  round = 'first',
  timeout = 90_000,
): Promise<void> {
  await target.waitForFunction(
    ({ n, round }) => {
      type Counted = HTMLVideoElement & { __frames?: Record<string, number> };
      const videos = [
        ...document.querySelectorAll<Counted>('.parley-tile[data-source="camera"] video.parley-remote-video'),
      ];
      for (const v of videos) {
        v.__frames ??= {};
        const counts = v.__frames;
        if (counts[round] !== undefined) continue;
        counts[round] = 0;
        const tick = () => {
          counts[round] = (counts[round] ?? 0) + 1;
          v.requestVideoFrameCallback(tick);
        };
        v.requestVideoFrameCallback(tick);
      }
      return videos.length === n && videos.every((v) => (v.__frames?.[round] ?? 0) >= 3);
    },
    { n: count, round },
    { timeout, polling: 250 },
  );
}

export function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  return errors;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(ARTIFACTS, 'screenshots');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * Waits until a <video> matched by `selector` (in `page` or a frame) is actually playing:
 * dimensions > 0 and currentTime advancing. Returns the dimensions.
 */
export async function expectVideoPlaying(
  target: Pick<Page, 'waitForFunction'>,
  selector: string,
  timeout = 20_000,
): Promise<void> {
  await target.waitForFunction(
    (sel) => {
      const v = document.querySelector(sel) as (HTMLVideoElement & { _t?: number }) | null;
      if (!v || v.videoWidth === 0 || v.readyState < 2) return false;
      const prev = v._t;
      v._t = v.currentTime;
      return prev !== undefined && v.currentTime > prev;
    },
    selector,
    { timeout, polling: 250 },
  );
}

/**
 * The clipboard's text as `page` reads it. Chromium refuses `readText()` while the document is
 * not focused, and focus returns to a page a moment after `bringToFront()` (for example after the
 * extension popup closes), so on that refusal this brings the page forward and tries again.
 */
export async function readClipboard(page: Page, timeout = 10_000): Promise<string> {
  const end = Date.now() + timeout;
  for (let attempt = 0; ; attempt++) {
    // Not on the first try: bringing the page forward would close an open extension popup.
    if (attempt > 0) await page.bringToFront();
    const read = await page.evaluate(async () => {
      window.focus();
      try {
        return { ok: true, text: await navigator.clipboard.readText(), error: '' };
      } catch (error) {
        return { ok: false, text: '', error: String(error) };
      }
    });
    if (read.ok) return read.text;
    if (!/not focused/i.test(read.error) || Date.now() > end) {
      throw new Error(`Reading the clipboard failed: ${read.error}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
