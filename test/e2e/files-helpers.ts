/**
 * Shared steps for the file-transfer e2e tests and bench/transfer.ts: two people join the
 * same call on the guest page (two separate Chromium profiles, the real server), files are
 * made inside the page and dropped on the overlay with a real drop event.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { BrowserContext, Download, Frame, Page } from 'playwright-core';
import { formatShareLink, newShareLink } from '../../src/protocol/link.ts';

export interface CallPair {
  a: Page;
  b: Page;
  link: string;
}

/** Open the share link in both profiles, join as Ana and Bo, wait until the files link is up. */
export async function joinCall(
  serverUrl: string,
  contextA: BrowserContext,
  contextB: BrowserContext,
): Promise<CallPair> {
  const link = formatShareLink(newShareLink(serverUrl));
  const join = async (context: BrowserContext, name: string) => {
    const page = await context.newPage();
    // tsx (the benchmark runs under it) names functions with a __name helper that pages lack.
    await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
    await page.goto(link);
    await page.getByLabel('Your name').fill(name);
    const camera = page.getByLabel('Join with camera');
    if (await camera.count()) await camera.uncheck();
    await page.getByRole('button', { name: 'Join call' }).click();
    return page;
  };
  const a = await join(contextA, 'Ana');
  const b = await join(contextB, 'Bo');
  for (const page of [a, b]) {
    await page
      .getByRole('button', { name: 'Send files', exact: true })
      .and(page.locator(':enabled'))
      .waitFor({ timeout: 30_000 });
  }
  return { a, b, link };
}

/**
 * Records, in the page, when each file card first showed a thumbnail, a partial progress
 * text ("42% · …"), and each state (data-state), keyed by file name. Install before sending.
 */
export async function recordCards(page: Page): Promise<void> {
  await page.evaluate(() => {
    type Log = Record<string, { thumbAt?: number; partial?: string; states: Record<string, number> }>;
    const log: Log = {};
    (window as unknown as { cardLog: Log }).cardLog = log;
    const scan = () => {
      for (const card of document.querySelectorAll<HTMLElement>('li.parley-file')) {
        const name = card.querySelector('.parley-file-name')?.textContent ?? '';
        log[name] ??= { states: {} };
        const entry = log[name];
        const state = card.dataset.state ?? '';
        entry.states[state] ??= performance.now();
        const img = card.querySelector<HTMLImageElement>('img.parley-file-thumb-img');
        if (img?.complete && img.naturalWidth > 0) entry.thumbAt ??= performance.now();
        else if (img) img.addEventListener('load', scan, { once: true });
        const status = card.querySelector('.parley-file-status')?.textContent ?? '';
        const pct = /^(\d+)%/.exec(status);
        if (pct && Number(pct[1]) > 0 && Number(pct[1]) < 100) entry.partial ??= status;
      }
    };
    new MutationObserver(scan).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
  });
}

export type CardLog = Record<string, { thumbAt?: number; partial?: string; states: Record<string, number> }>;

export function cardLog(page: Page): Promise<CardLog> {
  return page.evaluate(() => (window as unknown as { cardLog: CardLog }).cardLog);
}

/**
 * Build files in the page (kept on window.testFiles) and return their SHA-256.
 * Kinds: jpeg (W×H photo-like image via OffscreenCanvas), empty, random (N bytes), seeded
 * (N bytes that look random, the same for the same seed: the same file made again in
 * another document).
 */
export type FileSpec =
  | { kind: 'jpeg'; name: string; width: number; height: number }
  | { kind: 'empty'; name: string }
  | { kind: 'random'; name: string; size: number; hash?: false }
  | { kind: 'seeded'; name: string; size: number; seed: number };

export async function makeFiles(
  page: Page | Frame,
  specs: FileSpec[],
): Promise<Record<string, { sha256: string; size: number }>> {
  return page.evaluate(async (specs) => {
    const hex = (buffer: ArrayBuffer) =>
      [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
    const files: File[] = [];
    const out: Record<string, { sha256: string; size: number }> = {};
    for (const spec of specs) {
      let file: File;
      if (spec.kind === 'jpeg') {
        const canvas = new OffscreenCanvas(spec.width, spec.height);
        const g = canvas.getContext('2d')!;
        const gradient = g.createLinearGradient(0, 0, spec.width, spec.height);
        gradient.addColorStop(0, '#e66465');
        gradient.addColorStop(1, '#9198e5');
        g.fillStyle = gradient;
        g.fillRect(0, 0, spec.width, spec.height);
        for (let i = 0; i < 400; i += 1) {
          g.fillStyle = `hsl(${(i * 37) % 360} 70% 50%)`;
          g.beginPath();
          g.arc((i * 977) % spec.width, (i * 613) % spec.height, 20 + (i % 90), 0, Math.PI * 2);
          g.fill();
        }
        const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
        file = new File([blob], spec.name, { type: 'image/jpeg' });
      } else if (spec.kind === 'empty') {
        file = new File([], spec.name, { type: 'application/octet-stream' });
      } else if (spec.kind === 'seeded') {
        // xorshift32 from the seed, one 32-bit word at a time.
        const words = new Uint32Array(Math.ceil(spec.size / 4));
        let x = spec.seed >>> 0 || 1;
        for (let i = 0; i < words.length; i += 1) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          words[i] = x >>> 0;
        }
        file = new File([new Uint8Array(words.buffer, 0, spec.size)], spec.name, {
          type: 'application/octet-stream',
        });
      } else {
        const parts: Uint8Array<ArrayBuffer>[] = [];
        const piece = new Uint8Array(65536);
        for (let done = 0; done < spec.size; done += piece.length) {
          crypto.getRandomValues(piece);
          parts.push(piece.slice(0, Math.min(piece.length, spec.size - done)));
        }
        file = new File(parts, spec.name, { type: 'application/octet-stream' });
      }
      files.push(file);
      out[spec.name] = {
        sha256: hex(await crypto.subtle.digest('SHA-256', await file.arrayBuffer())),
        size: file.size,
      };
    }
    (window as unknown as { testFiles: File[] }).testFiles = files;
    return out;
  }, specs);
}

/** A real drag-and-drop of window.testFiles onto the overlay (dragenter → dragover → drop). */
export async function dropTestFiles(page: Page | Frame): Promise<void> {
  await page.evaluate(() => {
    const files = (window as unknown as { testFiles: File[] }).testFiles;
    const target = document.querySelector('.parley-app') as HTMLElement;
    const dataTransfer = new DataTransfer();
    for (const file of files) dataTransfer.items.add(file);
    for (const type of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(
        new DragEvent(type, { dataTransfer, bubbles: true, cancelable: true, composed: true }),
      );
    }
  });
}

/** The card of a file on a page, found by its (shown) name. */
export function card(page: Page | Frame, name: string) {
  return page.locator('li.parley-file').filter({ has: page.locator('.parley-file-name', { hasText: name }) });
}

export async function sha256OfDownload(download: Download): Promise<string> {
  const path = await download.path();
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Number of files left under parley-incoming in the page's origin private file system. */
export function incomingFileCount(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    let count = 0;
    const walk = async (dir: FileSystemDirectoryHandle) => {
      // @ts-expect-error values() exists on directory handles in Chromium
      for await (const entry of dir.values() as AsyncIterable<FileSystemHandle>) {
        if (entry.kind === 'file') count += 1;
        else await walk(entry as FileSystemDirectoryHandle);
      }
    };
    try {
      await walk(await root.getDirectoryHandle('parley-incoming'));
    } catch {}
    return count;
  });
}

/** Keeps every data channel the page creates (the call's are negotiated: created on both sides). */
export const KEEP_CHANNELS = `(() => {
  const channels = (globalThis.__channels = []);
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const channel = create.apply(this, args);
    channels.push(channel);
    return channel;
  };
})();`;
