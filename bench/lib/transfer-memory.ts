/**
 * Memory of one Chromium profile for `bench:transfer`: resident set size (VmRSS, /proc) of
 * its renderer processes (pages, the overlay, the offscreen document, their workers) and of
 * all its processes (the browser process too, where Blob data and the storage service live).
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

export interface ProfileProcesses {
  renderers: number[];
  all: number[];
  /** Each process's kind: 'browser', or its --type (renderer, gpu-process, utility…). */
  kinds: Map<number, string>;
}

/** The processes of the Chromium whose browser process has `marker` among its arguments. */
export function profileProcesses(marker: string): ProfileProcesses {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  const rows = out
    .split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const browser = rows.find((r) => r.args.includes(marker) && !r.args.includes('--type='));
  if (!browser) throw new Error(`No Chromium browser process with ${marker}`);
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
  const members = rows.filter((r) => family.has(r.pid));
  return {
    renderers: members.filter((r) => r.args.includes('--type=renderer')).map((r) => r.pid),
    all: members.map((r) => r.pid),
    kinds: new Map(members.map((r) => [r.pid, /--type=(\S+)/.exec(r.args)?.[1] ?? 'browser'])),
  };
}

export async function rssBytes(pids: number[]): Promise<number> {
  let total = 0;
  for (const pid of pids) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    } catch {}
  }
  return total;
}

export interface MemoryGrowth {
  rendererBaseline: number;
  rendererPeak: number;
  allBaseline: number;
  allPeak: number;
}

/**
 * Takes a baseline, starts `run`, and samples every 200 ms until it settles (peak minus
 * baseline). The process list is re-read every sample (Chromium may start a process meanwhile).
 */
export async function sampleGrowth(marker: string, run: () => Promise<unknown>): Promise<MemoryGrowth> {
  const first = profileProcesses(marker);
  const rendererBaseline = await rssBytes(first.renderers);
  const allBaseline = await rssBytes(first.all);
  let rendererPeak = rendererBaseline;
  let allPeak = allBaseline;
  let finished = false;
  let failure: unknown = null;
  const watched = run().then(
    () => {
      finished = true;
    },
    (error: unknown) => {
      finished = true;
      failure = error;
    },
  );
  while (!finished) {
    const now = profileProcesses(marker);
    rendererPeak = Math.max(rendererPeak, await rssBytes(now.renderers));
    allPeak = Math.max(allPeak, await rssBytes(now.all));
    await Promise.race([watched, new Promise((r) => setTimeout(r, 200))]);
  }
  if (failure) throw failure;
  return { rendererBaseline, rendererPeak, allBaseline, allPeak };
}

/**
 * CPU time (user + system, seconds) used so far by the processes of the Chromium with
 * `marker`: in all ('all') and by kind of process and thread name ('renderer:CrRendererMain',
 * 'renderer:DedicatedWorker', 'utility:WebRTC_Network'…; threads that ended are not counted).
 */
export async function cpuSeconds(marker: string): Promise<Record<string, number>> {
  const ticksPerSecond = 100; // USER_HZ on Linux
  const out: Record<string, number> = { all: 0 };
  const { all, kinds } = profileProcesses(marker);
  for (const pid of all) {
    let tids: string[] = [];
    try {
      tids = await readdir(`/proc/${pid}/task`);
    } catch {}
    for (const tid of tids) {
      try {
        const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[0-9]+$/, '');
        // Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const seconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
        const key = `${kinds.get(pid) ?? 'other'}:${name}`;
        out[key] = (out[key] ?? 0) + seconds;
        out.all! += seconds;
      } catch {}
    }
  }
  return out;
}

/** `after` − `before`, per kind. */
export function cpuSpent(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, seconds] of Object.entries(after)) out[kind] = seconds - (before[kind] ?? 0);
  return out;
}
