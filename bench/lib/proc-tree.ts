/**
 * Chromium's processes for bench:mesh, from /proc: a browser's process tree, its renderers,
 * and the CPU time of a set of processes.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface Proc {
  ppid: number;
  /** user + system, in USER_HZ ticks (100 per second). */
  ticks: number;
}

function snapshot(): Map<number, Proc> {
  const procs = new Map<number, Proc>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ');
      procs.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return procs;
}

/** Pids of a process and all its descendants. */
export function processTree(root: number): number[] {
  const procs = snapshot();
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, p] of procs) if (p.ppid === tree[i]) tree.push(pid);
  return tree;
}

/**
 * A process's command line as one string. Chromium's child processes rewrite theirs into one
 * space-separated string (setproctitle), so arguments are looked for as words in it.
 */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Chromium's process type: `browser`, `renderer`, `gpu-process`, `utility`, `zygote`, … */
function processType(cmd: string): string {
  return /(?:^| )--type=([\w-]+)/.exec(cmd)?.[1] ?? 'browser';
}

/** The Chromium main process started with this argument (not one of its children). */
export function browserPidWith(arg: string): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = cmdline(Number(d));
    if (cmd.split(' ').includes(arg) && processType(cmd) === 'browser') return Number(d);
  }
  throw new Error(`No Chromium process started with ${arg}`);
}

/** The renderer processes of a browser now. */
export function rendererPids(browserPid: number): number[] {
  return processTree(browserPid).filter((pid) => processType(cmdline(pid)) === 'renderer');
}

/** CPU seconds (user + system) of these processes now; those gone count 0. */
export function cpuSecondsOf(pids: Iterable<number>): number {
  const procs = snapshot();
  let ticks = 0;
  for (const pid of pids) ticks += procs.get(pid)?.ticks ?? 0;
  return ticks / 100;
}

export const alive = (pid: number) => cmdline(pid) !== '';

/**
 * CPU ticks per thread name of these processes now (`/proc/<pid>/task/<tid>/stat`; the name
 * is the thread's `comm`, at most 15 characters: `CrRendererMain`, `Compositor`,
 * `WebRTC_W_and_N`, …), prefixed with `prefix(pid)`. Threads of one name are summed.
 */
export function threadTicks(
  pids: Iterable<number>,
  prefix: (pid: number) => string = () => '',
): Map<string, number> {
  const byName = new Map<string, number>();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    const p = prefix(pid);
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const close = stat.lastIndexOf(') ');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        const f = stat.slice(close + 2).split(' ');
        const name = `${p}${comm}`;
        byName.set(name, (byName.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
      } catch {
        // gone meanwhile
      }
    }
  }
  return byName;
}

/** Chromium's process type of a pid (`browser`, `renderer`, `gpu-process`, `utility: audio`, …). */
export function processLabel(pid: number): string {
  const cmd = cmdline(pid);
  const type = processType(cmd);
  const service = /(?:^| )--utility-sub-type=([\w.-]+)/.exec(cmd)?.[1];
  return service ? `utility ${service.replace(/^.*\./, '')}` : type;
}
