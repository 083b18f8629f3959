/**
 * Memory of one Chromium profile for `bench:transfer`: resident set size (VmRSS, /proc) of
 * its renderer processes (pages, the overlay, the offscreen document, their workers) and of
 * all its processes (the browser process too, where Blob data and the storage service live),
 * and how much each kind of process (browser, extension renderer, page renderer, GPU, the
 * network and storage services…) grew.
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

export interface ProfileProcesses {
  renderers: number[];
  all: number[];
  /** Each process's kind: 'browser', or its --type (renderer, gpu-process, utility…). */
  kinds: Map<number, string>;
  /**
   * Finer than `kinds`, for memory: 'extension renderer' (the overlay frame, the offscreen
   * document and the service worker share it), 'page renderer', 'utility:network'…
   */
  roles: Map<number, string>;
}

/** A process's role (see ProfileProcesses.roles) from its command line. */
function role(args: string): string {
  const type = /--type=(\S+)/.exec(args)?.[1];
  if (!type) return 'browser';
  if (type === 'renderer')
    return args.includes('--extension-process') ? 'extension renderer' : 'page renderer';
  if (type === 'utility') {
    const sub = /--utility-sub-type=(\S+)/.exec(args)?.[1] ?? 'other';
    return `utility:${sub.replace(/\.mojom\..*$/, '')}`;
  }
  return type;
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
    roles: new Map(members.map((r) => [r.pid, role(r.args)])),
  };
}

export async function rssBytes(pids: number[]): Promise<number> {
  let total = 0;
  for (const rss of (await rssByPid(pids)).values()) total += rss;
  return total;
}

/** Resident bytes of each process that still exists. */
async function rssByPid(pids: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      out.set(pid, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
    } catch {}
  }
  return out;
}

export interface MemoryGrowth {
  rendererBaseline: number;
  rendererPeak: number;
  allBaseline: number;
  allPeak: number;
  /**
   * Per role of process (see ProfileProcesses.roles): its growth (resident bytes minus its
   * baseline, a process started meanwhile counting from 0) in the sample where all processes
   * together peaked (`atPeak`), and its own largest growth over the run (`peak`).
   */
  byRole: Record<string, { atPeak: number; peak: number }>;
}

/**
 * Processes left out of the totals (their growth is still printed per role): Chromium's
 * on-device model service, which Chromium starts by itself some minutes after launch (47 MiB
 * in one memory run) whatever the pages do.
 */
export const UNRELATED_ROLES = new Set(['utility:on_device_model']);

/**
 * Takes a baseline, starts `run`, and samples every 200 ms until it settles (peak minus
 * baseline). The process list is re-read every sample (Chromium may start a process meanwhile).
 * `sample`, when given, is called about once a second meanwhile (the V8 heaps, bench/lib/transfer-heap.ts).
 */
export async function sampleGrowth(
  marker: string,
  run: () => Promise<unknown>,
  sample?: () => Promise<void>,
): Promise<MemoryGrowth> {
  const first = profileProcesses(marker);
  const baseline = await rssByPid(first.all);
  const counted = (p: ProfileProcesses) => p.all.filter((pid) => !UNRELATED_ROLES.has(p.roles.get(pid)!));
  const rendererBaseline = sum(first.renderers, baseline);
  const allBaseline = sum(counted(first), baseline);
  let rendererPeak = rendererBaseline;
  let allPeak = allBaseline;
  const byRole: MemoryGrowth['byRole'] = {};
  const growthByRole = (now: ProfileProcesses, rss: Map<number, number>) => {
    const out: Record<string, number> = {};
    // Processes that ended since the baseline count as shrunk to 0 in their role.
    const pids = new Set([...first.all, ...now.all]);
    for (const pid of pids) {
      const role = now.roles.get(pid) ?? first.roles.get(pid) ?? 'other';
      out[role] = (out[role] ?? 0) + (rss.get(pid) ?? 0) - (baseline.get(pid) ?? 0);
    }
    return out;
  };
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
  let lastSample = 0;
  while (!finished) {
    const now = profileProcesses(marker);
    const rss = await rssByPid(now.all);
    rendererPeak = Math.max(rendererPeak, sum(now.renderers, rss));
    const all = sum(counted(now), rss);
    const roles = growthByRole(now, rss);
    for (const [role, growth] of Object.entries(roles)) {
      byRole[role] ??= { atPeak: 0, peak: 0 };
      byRole[role].peak = Math.max(byRole[role].peak, growth);
    }
    if (all > allPeak) {
      allPeak = all;
      for (const entry of Object.values(byRole)) entry.atPeak = 0;
      for (const [role, growth] of Object.entries(roles)) byRole[role]!.atPeak = growth;
    }
    if (sample && Date.now() - lastSample >= 1000) {
      lastSample = Date.now();
      await sample().catch(() => {});
    }
    await Promise.race([watched, new Promise((r) => setTimeout(r, 200))]);
  }
  if (failure) throw failure;
  return { rendererBaseline, rendererPeak, allBaseline, allPeak, byRole };
}

function sum(pids: number[], rss: Map<number, number>): number {
  let total = 0;
  for (const pid of pids) total += rss.get(pid) ?? 0;
  return total;
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
