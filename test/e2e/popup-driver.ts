/**
 * Drives the extension's real toolbar popup in headless Chromium (see DESIGN.md, "Driving
 * the real popup"): Chromium is started by us with --remote-debugging-port, Playwright
 * attaches over CDP, `chrome.action.openPopup()` runs in the service worker, and the popup —
 * a CDP target Playwright does not list as a page — is driven over its own DevTools socket.
 * Controls are found by role and accessible name, like a person (or a screen reader) would.
 *
 * The popup must come from the e2e build (dist-e2e/): a popup opened by openPopup() does
 * not grant activeTab, and only that build has loopback host permissions to inject with.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Frame,
  type Page,
  type Worker,
} from 'playwright-core';
import WebSocket from 'ws';
import { parseShareLink } from '../../src/protocol/link.ts';
import { freePort } from '../helpers/server-process.ts';
import { ARTIFACTS, CHROME_FLAGS, chromePath, extensionArgs, readClipboard } from './harness.ts';

interface CdpTarget {
  id: string;
  type: string;
  url: string;
  webSocketDebuggerUrl: string;
}

export interface ExtensionUser {
  browser: Browser;
  context: BrowserContext;
  extensionId: string;
  cdpPort: number;
  /** The current service worker (changes after a restart). */
  serviceWorker(): Promise<Worker>;
  /** Opens the toolbar popup for `page` (brought to the front first) and attaches to it. */
  openPopup(page: Page): Promise<PopupDriver>;
  /** Raw DevTools targets, e.g. to find or stop the service worker. */
  targets(): Promise<CdpTarget[]>;
  close(): Promise<void>;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeout = 15_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Launch a Chromium profile with the extension and a DevTools port, and attach Playwright. */
export async function launchExtensionUser(
  options: {
    extension?: 'dist' | 'dist-e2e';
    /**
     * Real capture of the current tab: Chromium's "Share this tab?" is accepted by itself
     * (--auto-accept-this-tab-capture). The fake media UI is left out, since it would answer
     * getDisplayMedia with its fake screen instead of the tab.
     */
    tabCapture?: boolean;
  } = {},
): Promise<ExtensionUser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'parley-popup-'));
  const cdpPort = await freePort();
  const child: ChildProcess = spawn(
    chromePath(),
    [
      '--headless=new',
      `--remote-debugging-port=${cdpPort}`,
      `--user-data-dir=${userDataDir}`,
      '--window-size=1280,800',
      ...(options.tabCapture
        ? [
            ...CHROME_FLAGS.filter((f) => f !== '--use-fake-ui-for-media-stream'),
            '--auto-accept-this-tab-capture',
          ]
        : CHROME_FLAGS),
      ...extensionArgs(options.extension ?? 'dist-e2e'),
      'about:blank',
    ],
    { stdio: 'ignore' },
  );
  const base = `http://127.0.0.1:${cdpPort}`;
  await waitFor('Chromium DevTools', async () =>
    (await fetch(`${base}/json/version`)).ok ? true : undefined,
  );
  const browser = await chromium.connectOverCDP(base);
  const context = browser.contexts()[0]!;
  await context.grantPermissions(['clipboard-read', 'clipboard-write', 'camera', 'microphone']);
  const targets = async () => (await (await fetch(`${base}/json/list`)).json()) as CdpTarget[];
  const serviceWorker = async () =>
    waitFor('the extension service worker', async () => {
      const worker = context.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://'));
      if (worker) return worker;
      // A stopped worker is not listed: wake it by asking for its target.
      return undefined;
    });
  const worker = await waitFor('the extension service worker', async () =>
    context.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://')),
  );
  const extensionId = new URL(worker.url()).host;

  return {
    browser,
    context,
    extensionId,
    cdpPort,
    serviceWorker,
    targets,
    async openPopup(page) {
      await page.bringToFront();
      const known = new Set((await targets()).map((t) => t.id));
      const popupUrl = `chrome-extension://${extensionId}/src/popup/popup.html`;
      const sw = await serviceWorker();
      // In the page's own browser window: a call window (no toolbar) may be the focused one.
      await sw.evaluate(async () => {
        const win = await chrome.windows.getLastFocused({ windowTypes: ['normal'] });
        if (win.id !== undefined) await chrome.windows.update(win.id, { focused: true });
        await chrome.action.openPopup(win.id === undefined ? {} : { windowId: win.id });
      });
      const target = await waitFor('the popup target', async () =>
        (await targets()).find(
          (t) => t.url.startsWith(popupUrl) && !known.has(t.id) && t.webSocketDebuggerUrl,
        ),
      );
      const popup = await PopupDriver.attach(target.webSocketDebuggerUrl);
      await popup.waitFor('the popup to render', `!!document.getElementById('server')?.value`);
      return popup;
    },
    async close() {
      await browser.close().catch(() => {});
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

/** Finds the element a person would call "<role> named <name>", in page context. */
const FIND = `(role, name) => {
  const accName = (el) => {
    const label = el.getAttribute('aria-label');
    if (label) return label.trim();
    const labelledBy = el.getAttribute('aria-labelledby');
    if (labelledBy) return labelledBy.split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join(' ').trim();
    if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(' ').trim();
    return (el.textContent ?? '').replace(/\\s+/g, ' ').trim();
  };
  const selectors = {
    button: 'button, [role=button], input[type=button], input[type=submit], summary',
    textbox: 'input:not([type]), input[type=text], input[type=url], input[type=search], textarea, [role=textbox]',
    status: '[role=status]',
    switch: 'input[role=switch]',
  };
  const visible = (el) => !el.closest('[hidden]') && el.getClientRects().length > 0;
  return [...document.querySelectorAll(selectors[role])].find((el) => visible(el) && accName(el) === name) ?? null;
}`;

export class PopupDriver {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  closed = false;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      if (message.id === undefined) return;
      const waiter = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result);
    });
    socket.on('close', () => {
      this.closed = true;
      for (const waiter of this.#pending.values()) waiter.reject(new Error('The popup closed'));
      this.#pending.clear();
    });
  }

  static async attach(url: string): Promise<PopupDriver> {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const driver = new PopupDriver(socket);
    await driver.send('Runtime.enable');
    await driver.send('Page.enable');
    return driver;
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      // A closed popup never answers: fail now instead of waiting for the test's timeout.
      if (this.closed || this.#socket.readyState !== WebSocket.OPEN) {
        reject(new Error(`The popup closed (before ${method})`));
        return;
      }
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Evaluate an expression in the popup and return its (JSON) value. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send<{
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    }>('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true, userGesture: true });
    if (result.exceptionDetails) {
      throw new Error(
        `In the popup: ${result.exceptionDetails.exception?.description ?? result.exceptionDetails.text}`,
      );
    }
    return result.result.value as T;
  }

  async waitFor(what: string, expression: string, timeout = 15_000): Promise<void> {
    await waitFor(
      what,
      async () => ((await this.evaluate<boolean>(`!!(${expression})`)) ? true : undefined),
      timeout,
    );
  }

  /** Centre of the control, or an error naming what is missing. */
  async #locate(role: string, name: string): Promise<{ x: number; y: number }> {
    let point: { x: number; y: number } | null = null;
    await waitFor(
      `${role} "${name}" in the popup`,
      async () => {
        point = await this.evaluate<{ x: number; y: number } | null>(`(() => {
          const el = (${FIND})(${JSON.stringify(role)}, ${JSON.stringify(name)});
          if (!el) return null;
          el.scrollIntoView({ block: 'center' });
          const r = el.getBoundingClientRect();
          return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
        })()`);
        return point ?? undefined;
      },
      10_000,
    );
    return point!;
  }

  /** A real mouse click (trusted events, user activation) on the button named `name`. */
  async click(name: string, role = 'button'): Promise<void> {
    const { x, y } = await this.#locate(role, name);
    for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
      await this.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
    }
  }

  /** Click the text field labelled `label`, replace its text and leave it (fires change). */
  async fill(label: string, text: string): Promise<void> {
    await this.click(label, 'textbox');
    await this.evaluate(`(${FIND})('textbox', ${JSON.stringify(label)}).select()`);
    await this.send('Input.insertText', { text });
    await this.evaluate(`(${FIND})('textbox', ${JSON.stringify(label)}).blur()`);
  }

  /** Is the switch (or checkbox) named `name` on? */
  async isChecked(name: string, role = 'switch'): Promise<boolean> {
    return this.evaluate<boolean>(`!!(${FIND})(${JSON.stringify(role)}, ${JSON.stringify(name)})?.checked`);
  }

  /** The visible text of the popup (for outcomes a person reads). */
  text(): Promise<string> {
    return this.evaluate<string>('document.body.innerText');
  }

  async waitForText(pattern: RegExp, timeout = 15_000): Promise<string> {
    let last = '';
    await waitFor(
      `popup text ${pattern}`,
      async () => {
        last = await this.text();
        return pattern.test(last) ? true : undefined;
      },
      timeout,
    ).catch(() => {
      throw new Error(`The popup never showed ${pattern}; it said "${last}"`);
    });
    return last;
  }

  async isVisible(name: string, role = 'button'): Promise<boolean> {
    return this.evaluate<boolean>(`!!(${FIND})(${JSON.stringify(role)}, ${JSON.stringify(name)})`);
  }

  /** The popup's status line ("Link copied." …). */
  status(): Promise<string> {
    return this.evaluate<string>(`document.querySelector('[role=status]')?.textContent ?? ''`);
  }

  async waitForStatus(pattern: RegExp, timeout = 15_000): Promise<string> {
    let last = '';
    await waitFor(
      `popup status ${pattern} (last: "${last}")`,
      async () => {
        last = await this.status();
        return pattern.test(last) ? true : undefined;
      },
      timeout,
    ).catch(() => {
      throw new Error(`The popup status never matched ${pattern}; it said "${last}"`);
    });
    return last;
  }

  async screenshot(name: string): Promise<string> {
    const dir = join(ARTIFACTS, 'screenshots');
    await mkdir(dir, { recursive: true });
    const { data } = await this.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
    const path = join(dir, `${name}.png`);
    await writeFile(path, Buffer.from(data, 'base64'));
    return path;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.evaluate('window.close()').catch(() => {});
    this.#socket.close();
  }
}

// ---------- steps shared by the extension e2e tests ----------

/** The overlay iframe in `page`, once its call UI has mounted. */
export async function overlayFrame(page: Page, extensionId: string, timeout = 15_000): Promise<Frame> {
  const prefix = `chrome-extension://${extensionId}/src/overlay/overlay.html`;
  return waitFor(
    'the Parley overlay in the page',
    async () => page.frames().find((f) => f.url().startsWith(prefix)),
    timeout,
  );
}

/**
 * The extension's call window page (an answered ring's: opened, minimized, while it rang, so
 * it may exist before Accept is pressed).
 */
export function callWindow(user: ExtensionUser, timeout = 15_000): Promise<Page> {
  const prefix = `chrome-extension://${user.extensionId}/src/overlay/window.html`;
  return waitFor(
    'the Parley call window',
    async () => user.context.pages().find((p) => p.url().startsWith(prefix) && !p.isClosed()),
    timeout,
  );
}

/** Is our overlay host element in the page? (The shadow root is closed; the host is not.) */
export function overlayMounted(page: Page): Promise<boolean> {
  return page.evaluate(() => document.querySelector('parley-overlay') !== null);
}

/**
 * What a person does: open the popup on `page`, point Settings at `server`, set a name, press
 * Start video/audio call; resolves with the share link from the clipboard.
 */
export async function startCallFromPopup(
  user: ExtensionUser,
  page: Page,
  options: { server: string; name: string; media: 'video' | 'audio'; screenshot?: string },
): Promise<string> {
  const popup = await user.openPopup(page);
  await configurePopup(popup, options);
  if (options.screenshot) await popup.screenshot(options.screenshot);
  await popup.click(options.media === 'video' ? 'Start video call' : 'Start audio call');
  await popup.waitForStatus(/Link copied/);
  await popup.close();
  const link = await readClipboard(page);
  if (!parseShareLink(link)) throw new Error(`The clipboard holds "${link}", not a link`);
  return link;
}

export async function configurePopup(
  popup: PopupDriver,
  options: { server: string; name: string },
): Promise<void> {
  if ((await popup.evaluate<string>(`document.getElementById('server').value`)) !== options.server) {
    await popup.click('Settings');
    await popup.fill('Signaling server', options.server);
    await popup.click('Save');
    await popup.waitForStatus(/Settings saved/);
  }
  await popup.fill('Your name', options.name);
}

/**
 * Records every getUserMedia call and stream of a context's pages (and frames, where
 * Playwright reaches them), so a test can tell what was asked for and whether it was stopped.
 */
export const RECORD_MEDIA = `(() => {
  const devices = navigator.mediaDevices;
  if (!devices || window.__parleyMedia) return;
  const original = devices.getUserMedia.bind(devices);
  window.__parleyMedia = { calls: [], streams: [] };
  devices.getUserMedia = async (constraints) => {
    window.__parleyMedia.calls.push({ audio: !!constraints?.audio, video: !!constraints?.video });
    const stream = await original(constraints);
    window.__parleyMedia.streams.push(stream);
    return stream;
  };
})()`;

export interface RecordedMedia {
  calls: { audio: boolean; video: boolean }[];
  /** readyState of every track of every stream getUserMedia returned. */
  tracks: { kind: string; readyState: string }[];
}

export function recordedMedia(target: Pick<Page, 'evaluate'>): Promise<RecordedMedia> {
  return target.evaluate(() => {
    const media = (
      window as unknown as { __parleyMedia?: { calls: RecordedMedia['calls']; streams: MediaStream[] } }
    ).__parleyMedia;
    return {
      calls: media?.calls ?? [],
      tracks: (media?.streams ?? []).flatMap((s) =>
        s.getTracks().map((t) => ({ kind: t.kind, readyState: t.readyState })),
      ),
    };
  });
}

/**
 * The loudest sample heard from the stream playing in `selector` over up to ~6 s, via an
 * analyser (the fake microphone beeps about once a second).
 */
export function remoteAudioPeak(target: Pick<Page, 'evaluate'>, selector: string): Promise<number> {
  return target.evaluate(async (sel) => {
    const el = document.querySelector(sel) as HTMLMediaElement | null;
    const stream = el?.srcObject as MediaStream | null;
    if (!stream || stream.getAudioTracks().length === 0) return 0;
    const context = new AudioContext();
    await context.resume();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let peak = 0;
    for (let i = 0; i < 60 && peak < 0.01; i++) {
      await new Promise((r) => setTimeout(r, 100));
      analyser.getFloatTimeDomainData(samples);
      for (const v of samples) peak = Math.max(peak, Math.abs(v));
    }
    await context.close();
    return peak;
  }, selector);
}

/** Text of the remote tile's indicators ("Ana is muted", "Ana's camera is off"). */
export function remoteIndicators(target: Pick<Page, 'evaluate'>): Promise<string> {
  return target.evaluate(() => document.querySelector('.parley-indicators')?.textContent ?? '');
}
