/**
 * `npm run bench:transfer`: file transfer between two separate Chromium profiles through the
 * real signaling server (guest pages, loopback).
 *
 *  1. drop → thumbnail visible on the receiver for a 4000×3000 JPEG, and whether the
 *     thumbnail showed before the first body frame arrived on the receiver's files channel;
 *  2. raw ceiling: a bare send loop of 64 KiB ArrayBuffers over one data channel between the
 *     same two profiles (its own RTCPeerConnection, signalled through the same server);
 *  3. Parley: drop a file of the same size, timed from the drop to "Received and verified"
 *     on the receiver (includes the thumbnail step, disk writes, SHA-256 on both sides);
 *  4. the receiver's memory growth while receiving 1 GiB: peak minus baseline of the summed
 *     resident memory (RSS, /proc) of the receiving profile's renderer processes, which hold
 *     the page and its OPFS writer worker.
 * Sizes: TRANSFER_MIB (default 256), MEMORY_MIB (1024), RUNS (3).
 * The last line is one JSON object.
 */

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { dropTestFiles, joinCall, makeFiles, recordCards } from '../test/e2e/files-helpers.ts';
import { launchBrowser } from '../test/e2e/harness.ts';
import { ROOT, startServer } from '../test/helpers/server-process.ts';

const MiB = 1024 * 1024;
const TRANSFER_MIB = Number(process.env.TRANSFER_MIB ?? 256);
const MEMORY_MIB = Number(process.env.MEMORY_MIB ?? 1024);
const RUNS = Number(process.env.RUNS ?? 3);

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
};
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const log = (...args: unknown[]) => console.log(...args);

/** A file of `size` bytes made of one random 16 MiB block repeated (Blob parts are shared, not copied). */
async function makeLargeFile(page: Page, name: string, size: number): Promise<void> {
  await page.evaluate(
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

async function waitDone(page: Page, name: string, timeout = 600_000): Promise<void> {
  await page.waitForFunction(
    (name) =>
      [...document.querySelectorAll('li.parley-file')].some(
        (li) =>
          li.querySelector('.parley-file-name')?.textContent === name &&
          (li as HTMLElement).dataset.state === 'done',
      ),
    name,
    { timeout, polling: 20 },
  );
}

/** Records on the receiver when the first binary frame arrives on a data channel labelled 'files'. */
const FIRST_BODY_PROBE = `
  (() => {
    const add = RTCDataChannel.prototype.addEventListener;
    RTCDataChannel.prototype.addEventListener = function (type, listener, options) {
      if (type === 'message' && this.label === 'files') {
        const wrapped = (event) => {
          if (event.data instanceof ArrayBuffer) globalThis.firstBodyAt ??= performance.now();
          return typeof listener === 'function' ? listener.call(this, event) : listener.handleEvent(event);
        };
        return add.call(this, type, wrapped, options);
      }
      return add.call(this, type, listener, options);
    };
  })();
`;

/**
 * The bare loop: a negotiated data channel (id 9, so it cannot clash with the call's 0 and 1)
 * added to the call's own RTCPeerConnection (the guest page exposes its session as
 * window.parleyCall), so the raw loop and Parley share the same two profiles, the same
 * DTLS/SCTP association and the same audio running alongside.
 */
export async function rawThroughput(a: Page, b: Page, bytes: number, id: number): Promise<number> {
  const open = (page: Page) =>
    page.evaluate((id) => {
      type Call = { peers: Map<string, { pc: RTCPeerConnection }> };
      const call = (window as unknown as { parleyCall: Call }).parleyCall;
      const pc = [...call.peers.values()][0]!.pc;
      const channel = pc.createDataChannel(`raw-${id}`, { negotiated: true, id, ordered: true });
      channel.binaryType = 'arraybuffer';
      (window as unknown as { rawChannel: RTCDataChannel }).rawChannel = channel;
    }, id);
  await open(a);
  await open(b);
  const received = b.evaluate(
    (bytes) =>
      new Promise<number>((resolve) => {
        const channel = (window as unknown as { rawChannel: RTCDataChannel }).rawChannel;
        let count = 0;
        let start = 0;
        channel.onmessage = (event) => {
          if (start === 0) start = performance.now();
          count += (event.data as ArrayBuffer).byteLength;
          if (count >= bytes) {
            const seconds = (performance.now() - start) / 1000;
            channel.send('done');
            resolve(count / seconds / 1e6);
          }
        };
      }),
    bytes,
  );
  await a.evaluate(
    (bytes) =>
      new Promise<void>((resolve) => {
        const channel = (window as unknown as { rawChannel: RTCDataChannel }).rawChannel;
        const chunk = 64 * 1024;
        let sent = 0;
        const pump = () => {
          while (sent < bytes && channel.bufferedAmount < 8 * 1024 * 1024) {
            channel.send(new ArrayBuffer(chunk));
            sent += chunk;
          }
        };
        channel.bufferedAmountLowThreshold = 1024 * 1024;
        channel.onbufferedamountlow = pump;
        channel.onmessage = () => {
          channel.close();
          resolve();
        };
        if (channel.readyState === 'open') pump();
        else channel.onopen = pump;
      }),
    bytes,
  );
  return received;
}

/** PIDs of the renderer processes of the Chromium whose profile is `userDataDir`. */
function rendererPids(userDataDir: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  const rows = out
    .split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const browser = rows.find(
    (r) => r.args.includes(`--user-data-dir=${userDataDir}`) && !r.args.includes('--type='),
  );
  if (!browser) return [];
  const family = new Set([browser.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const row of rows) {
      if (!family.has(row.pid) && family.has(row.ppid)) {
        family.add(row.pid);
        grew = true;
      }
    }
  }
  return rows.filter((r) => family.has(r.pid) && r.args.includes('--type=renderer')).map((r) => r.pid);
}

async function rssBytes(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      total += kb * 1024;
    } catch {}
  }
  return total;
}

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'build/guest/index.html'))) {
    throw new Error('The guest page is not built: run `npm run build:guest` first.');
  }
  const server = await startServer();
  const [ana, bo] = await Promise.all([
    launchBrowser({ extension: false }),
    launchBrowser({ extension: false }),
  ]);
  try {
    await bo.context.addInitScript({ content: FIRST_BODY_PROBE });
    // tsx names functions with a __name helper that pages lack.
    for (const user of [ana, bo])
      await user.context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
    const { a, b } = await joinCall(server.url, ana.context, bo.context);
    await recordCards(b);

    // 1. Drop → thumbnail on the receiver.
    await makeFiles(a, [{ kind: 'jpeg', name: 'photo.jpg', width: 4000, height: 3000 }]);
    const dropAt = Date.now();
    await dropTestFiles(a);
    await b.waitForFunction(
      () => {
        const img = document.querySelector<HTMLImageElement>('li.parley-file img.parley-file-thumb-img');
        return img?.complete && img.naturalWidth > 0;
      },
      undefined,
      { timeout: 60_000, polling: 10 },
    );
    const dropToThumbnail = Date.now() - dropAt;
    await waitDone(b, 'photo.jpg');
    const { thumbAt, firstBodyAt } = await b.evaluate(() => ({
      thumbAt: (window as unknown as { cardLog: Record<string, { thumbAt?: number }> }).cardLog['photo.jpg']
        ?.thumbAt,
      firstBodyAt: (globalThis as { firstBodyAt?: number }).firstBodyAt,
    }));
    const thumbnailBeforeBody = thumbAt !== undefined && firstBodyAt !== undefined && thumbAt <= firstBodyAt;
    log(
      `drop → thumbnail on the receiver: ${dropToThumbnail} ms; thumbnail before first body frame: ${thumbnailBeforeBody}`,
    );

    // 2. Raw ceiling, same two profiles, same connection.
    const raw: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      raw.push(await rawThroughput(a, b, TRANSFER_MIB * MiB, 9 + run));
      log(`raw 64 KiB loop, ${TRANSFER_MIB} MiB: ${round(raw.at(-1)!)} MB/s`);
    }

    // 3. Parley, same size, drop → verified on the receiver.
    const ours: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      const name = `bench-${run}.bin`;
      await makeLargeFile(a, name, TRANSFER_MIB * MiB);
      const start = Date.now();
      await dropTestFiles(a);
      await waitDone(b, name);
      ours.push((TRANSFER_MIB * MiB) / ((Date.now() - start) / 1000) / 1e6);
      log(`Parley, ${TRANSFER_MIB} MiB: ${round(ours.at(-1)!)} MB/s`);
    }

    // 4. Receiver memory while receiving MEMORY_MIB.
    const pids = rendererPids(bo.userDataDir);
    await b.evaluate(() => (globalThis as { gc?: () => void }).gc?.());
    const baseline = await rssBytes(pids);
    let peak = baseline;
    await makeLargeFile(a, 'memory.bin', MEMORY_MIB * MiB);
    await dropTestFiles(a);
    let finished = false;
    const done = waitDone(b, 'memory.bin').then(() => {
      finished = true;
    });
    while (!finished) {
      peak = Math.max(peak, await rssBytes(pids));
      await new Promise((r) => setTimeout(r, 200));
    }
    await done;
    const growthMiB = (peak - baseline) / MiB;
    log(
      `receiver memory while receiving ${MEMORY_MIB} MiB: baseline ${round(baseline / MiB)} MiB, peak ${round(peak / MiB)} MiB, growth ${round(growthMiB)} MiB (RSS of ${pids.length} renderer processes)`,
    );

    const oursMedian = median(ours);
    const rawMedian = median(raw);
    log(
      `median: Parley ${round(oursMedian)} MB/s, raw ${round(rawMedian)} MB/s, ratio ${round(oursMedian / rawMedian, 2)}×`,
    );
    console.log(
      JSON.stringify({
        bench: 'transfer',
        ours_mb_per_s: round(oursMedian),
        raw_mb_per_s: round(rawMedian),
        receiver_growth_mib_1gib: round(growthMiB),
        drop_to_thumbnail_ms: dropToThumbnail,
        thumbnail_before_body: thumbnailBeforeBody,
      }),
    );
  } finally {
    await ana.close();
    await bo.close();
    await server.stop();
  }
}

if (process.argv[1]?.endsWith('transfer.ts')) await main();
