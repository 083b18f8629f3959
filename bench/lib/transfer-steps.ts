/**
 * Steps `bench:transfer` takes in any browser: make a large file in the sender, drop it on
 * Parley, wait for the receiver's card to say "Received and verified". They run on a
 * `Target` (a Playwright page or frame in Chromium, or a Puppeteer one in Firefox through
 * `fromPuppeteer`).
 */
import type { Frame as FirefoxFrame, Page as FirefoxPage } from 'puppeteer-core';
import type { Target } from './transfer-raw.ts';

export const MiB = 1024 * 1024;

export const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** tsx names functions with a __name helper that pages lack. */
export const NAME_HELPER = 'globalThis.__name = (f) => f;';

/**
 * A Puppeteer page or frame as a `Target`. Waiting polls with `evaluate` (Puppeteer's own
 * waitForFunction takes its arguments in another order and builds its poller with `new
 * Function`, which an extension frame's CSP may refuse).
 */
export function fromPuppeteer(target: FirefoxPage | FirefoxFrame): Target {
  const evaluate = ((fn: (arg: unknown) => unknown, arg?: unknown) =>
    target.evaluate(fn as never, arg as never)) as Target['evaluate'];
  return {
    evaluate,
    async waitForFunction(fn, arg, options = {}) {
      const deadline = Date.now() + (options.timeout ?? 30_000);
      for (;;) {
        const value = await evaluate(fn as (arg: unknown) => unknown, arg as unknown);
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`Timed out after ${options.timeout ?? 30_000} ms`);
        await new Promise((resolve) => setTimeout(resolve, options.polling ?? 100));
      }
    },
  };
}

/** A file of `size` bytes made of one random 16 MiB block repeated (Blob parts are shared, not copied). */
export async function makeLargeFile(target: Target, name: string, size: number): Promise<void> {
  await target.evaluate(
    ({ name, size }) => {
      const block = new Uint8Array(16 * 1024 * 1024);
      for (let i = 0; i < block.length; i += 65536) crypto.getRandomValues(block.subarray(i, i + 65536));
      const blob = new Blob([block]);
      const parts: Blob[] = [];
      for (let done = 0; done < size; done += blob.size)
        parts.push(done + blob.size <= size ? blob : blob.slice(0, size - done));
      (window as unknown as { testFiles: File[] }).testFiles = [
        new File(parts, name, { type: 'application/octet-stream' }),
      ];
    },
    { name, size },
  );
}

/** A real drag-and-drop of window.testFiles onto Parley's app (dragenter → dragover → drop). */
export async function dropFiles(target: Target): Promise<void> {
  await target.evaluate(() => {
    const files = (window as unknown as { testFiles: File[] }).testFiles;
    const app = document.querySelector('.parley-app') as HTMLElement;
    const dataTransfer = new DataTransfer();
    for (const file of files) dataTransfer.items.add(file);
    for (const type of ['dragenter', 'dragover', 'drop']) {
      app.dispatchEvent(
        new DragEvent(type, { dataTransfer, bubbles: true, cancelable: true, composed: true }),
      );
    }
  });
}

/** Waits for the card of `name` to say "Received and verified"; fails with its state otherwise. */
export async function waitDone(target: Target, name: string, timeout: number, label: string): Promise<void> {
  try {
    await target.waitForFunction(
      (name) =>
        [...document.querySelectorAll('li.parley-file')].some(
          (li) =>
            li.querySelector('.parley-file-name')?.textContent === name &&
            (li as HTMLElement).dataset.state === 'done',
        ),
      name,
      { timeout, polling: 20 },
    );
  } catch {
    const seen = await target
      .evaluate((name) => {
        const li = [...document.querySelectorAll<HTMLElement>('li.parley-file')].find(
          (li) => li.querySelector('.parley-file-name')?.textContent === name,
        );
        if (!li) return 'no card';
        return `state ${li.dataset.state}, "${li.querySelector('.parley-file-status')?.textContent ?? ''}"`;
      }, name)
      .catch((error: unknown) => `unreadable (${String(error)})`);
    throw new Error(`${label}: ${name} was not received and verified within ${timeout / 1000} s (${seen}).`);
  }
}

/** Resolves once Parley's "Send files" button is enabled (the files link to a peer is up). */
export async function filesReady(target: Target, label: string, timeout = 60_000): Promise<void> {
  await target
    .waitForFunction(
      () => {
        const button = document.querySelector<HTMLButtonElement>('button.parley-files-send');
        return button !== null && !button.disabled;
      },
      undefined,
      { timeout, polling: 100 },
    )
    .catch(() => {
      throw new Error(`${label}: "Send files" never became enabled (no files link to the other person).`);
    });
}
