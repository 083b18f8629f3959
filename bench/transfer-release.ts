/**
 * `npm run bench:transfer-release`: what becomes of received chunks' memory in a worker that
 * writes them to OPFS, by what the worker does with each buffer once written and hashed
 * (bench/lib/release-pages.ts lists the ways). One page sends itself MIB mebibytes over a
 * loopback data channel; the receiving side transfers each frame's buffer to the worker, as
 * Parley's guest page does. Per way, in a fresh headless Chromium, after an unmeasured 64 MiB
 * run and a full garbage collection: the growth of the renderers' resident memory (peak of the
 * sum, sampled every 200 ms, minus the baseline), the worker's ArrayBuffer backing stores at
 * their peak (`Runtime.getHeapUsage`), the throughput, the CPU seconds of the whole browser,
 * and whether the worker's buffers came out detached.
 * MODES (default: all, comma-separated), MIB (1024), ROUNDS (1: the modes in turn, ROUNDS
 * times), NUDGE (3000 objects per frame, for `nudge`). The last line is one JSON object.
 * It isolates the worker's part: Parley's own receivers are measured by bench:transfer.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { launchBrowser, startPageServer } from '../test/e2e/harness.ts';
import { RELEASE_MODES, RELEASE_PAGE, RELEASE_WORKER, type ReleaseMode } from './lib/release-pages.ts';
import { watchHeaps } from './lib/transfer-heap.ts';
import { cpuSeconds, profileProcesses, rssBytes } from './lib/transfer-memory.ts';
import { MiB, median, round } from './lib/transfer-steps.ts';

const MIB = Number(process.env.MIB ?? 1024);
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const NUDGE = Number(process.env.NUDGE ?? 3000);
const MODES = (process.env.MODES ?? RELEASE_MODES.join(',')).split(',').map((m) => m.trim());
for (const mode of MODES) {
  if (!(RELEASE_MODES as readonly string[]).includes(mode)) throw new Error(`Unknown mode ${mode}`);
}

interface Result {
  growth: number;
  workerBuffers: number;
  mbPerS: number;
  cpu: number;
  detached: boolean;
}

async function measure(url: string, mode: ReleaseMode): Promise<Result> {
  const user = await launchBrowser({ extension: false, args: ['--remote-debugging-port=0'] });
  try {
    const page = await user.context.newPage();
    await page.goto(`${url}/`);
    const nudge = mode === 'nudge' ? NUDGE : 0;
    await page.evaluate(
      ([m, n]) => (window as never as Window & { setup(m: string, n: number): Promise<void> }).setup(m, n),
      [mode, nudge] as const,
    );
    const run = (mib: number) =>
      page.evaluate(
        (n) =>
          (window as never as Window & { run(n: number): Promise<{ ms: number; detached: boolean }> }).run(n),
        mib,
      );
    await run(64);
    const port = (await readFile(`${user.userDataDir}/DevToolsActivePort`, 'utf8')).split('\n')[0];
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
      type: string;
      url: string;
      webSocketDebuggerUrl: string;
    }[];
    const target = targets.find((t) => t.type === 'page' && t.url.startsWith(url));
    if (!target) throw new Error('The bench page has no DevTools target');
    const heaps = await watchHeaps(target.webSocketDebuggerUrl, 'page');
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await heaps.collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const procs = profileProcesses(`--user-data-dir=${user.userDataDir}`);
      const baseline = await rssBytes(procs.renderers);
      let peak = baseline;
      let running = true;
      const sampler = (async () => {
        while (running) {
          peak = Math.max(peak, await rssBytes(procs.renderers));
          await heaps.sample().catch(() => {});
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      const marker = `--user-data-dir=${user.userDataDir}`;
      const cpuBefore = (await cpuSeconds(marker)).all ?? 0;
      const { ms, detached } = await run(MIB);
      const cpu = ((await cpuSeconds(marker)).all ?? 0) - cpuBefore;
      running = false;
      await sampler;
      const worker = [...heaps.figures].find(([name]) => name.includes('release-writer'))?.[1];
      return {
        growth: (peak - baseline) / MiB,
        workerBuffers: (worker?.peak.backing ?? 0) / MiB,
        mbPerS: (MIB * MiB) / 1e6 / (ms / 1000),
        cpu,
        detached,
      };
    } finally {
      heaps.close();
    }
  } finally {
    await user.close();
  }
}

const server = await startPageServer({
  '/': { body: RELEASE_PAGE },
  '/worker.js': { body: RELEASE_WORKER, headers: { 'content-type': 'text/javascript' } },
});
console.log(
  `bench:transfer-release ${new Date().toISOString()}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${MIB} MiB per run, modes ${MODES.join(', ')}, ${ROUNDS} round(s)`,
);
const results = new Map<string, Result[]>();
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of MODES as ReleaseMode[]) {
      const result = await measure(server.url, mode);
      results.set(mode, [...(results.get(mode) ?? []), result]);
      console.log(
        `${mode}: renderers' growth ${round(result.growth)} MiB, worker's buffers peak ${round(result.workerBuffers)} MiB, ${round(result.mbPerS)} MB/s, CPU ${round(result.cpu)} s, buffers detached: ${result.detached}`,
      );
    }
  }
} finally {
  await server.close();
}
const summary: Record<string, number> = {};
for (const [mode, list] of results) {
  summary[`${mode.replaceAll('-', '_')}_growth_mib`] = round(median(list.map((r) => r.growth)));
}
console.log(JSON.stringify({ bench: 'transfer-release', mib: MIB, ...summary }));
