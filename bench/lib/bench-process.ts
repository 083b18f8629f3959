/**
 * What bench:signal and bench:scale share: starting a server under test in its own process,
 * driving a load generator (signal-load.ts) in another over IPC, and reading CPU and memory
 * of processes from /proc.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The limits our server runs with under bench:signal and bench:scale; everything else is its
 * default. All load comes from 127.0.0.1, so one "IP" holds every socket; each sender sends up
 * to a few hundred msgs/s. The token bucket still runs, but it must not drop what the load
 * generator sent at the offered rate: when a server falls behind, a socket's messages wait in
 * the kernel and are read in bursts, far above the per-second rate, and with the default
 * bucket (200) an overloaded step got its senders rate-limited and then closed for flooding
 * (4008), and every later step delivered nothing.
 */
export const OURS_LIMITS = {
  MAX_CONNECTIONS_PER_IP: '1000000',
  RATE_LIMIT_PER_SEC: '1000',
  RATE_LIMIT_BURST: '1000000',
} as const;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/** RSS after two full GCs (SIGUSR2, see gc-on-signal.ts), so garbage does not count. */
export async function settledRss(child: ChildProcess): Promise<number> {
  for (let i = 0; i < 2; i++) {
    child.kill('SIGUSR2');
    await sleep(700);
  }
  return rssBytes(child.pid!);
}

/** user + system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU time of the whole machine so far (all CPUs, in USER_HZ ticks), busy and total. */
export function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/**
 * Starts a Node server under test (`args` after the loader flags) and resolves with the port
 * from its first `"port":N` output line. `ulimit -n` is raised as far as this machine allows
 * (root without CAP_SYS_RESOURCE cannot pass the hard limit). Every server gets the same
 * preload, gc-on-signal.ts, so that settledRss can collect garbage first.
 */
export async function startNodeServer(
  label: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    'sh',
    [
      '-c',
      'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"',
      process.execPath,
      '--expose-gc',
      '--import',
      'tsx',
      '--import',
      './bench/lib/gc-on-signal.ts',
      ...args,
    ],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        const m = /"port":(\d+)/.exec(line);
        if (m) resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`${label} exited with ${code}: ${out}`)));
  });
  child.stdout?.resume();
  return { child, port };
}

/** One result of a `step` command (see signal-load.ts). */
export interface Step {
  rate: number;
  sent: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  genLimited: boolean;
  /** Messages of earlier steps still arriving when this one was due, waited for first. */
  backlog: number;
}

/** The load generator (signal-load.ts) in its own process, driven by numbered IPC commands. */
export class Generator {
  private seq = 0;
  private waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly child: ChildProcess;
  private readonly ready: Promise<void>;
  constructor() {
    this.child = fork(fileURLToPath(new URL('./signal-load.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      cwd: ROOT,
    });
    // Commands sent before the child's listener exists would be lost: wait for its hello.
    this.ready = new Promise<void>((resolve) => {
      this.child.once('message', () => resolve());
    });
    this.child.on('message', (raw) => {
      const msg = raw as { seq: number; result?: unknown; error?: string };
      const w = this.waiting.get(msg.seq);
      this.waiting.delete(msg.seq);
      if (msg.error !== undefined) w?.reject(new Error(msg.error));
      else w?.resolve(msg.result);
    });
  }
  async call<T>(command: Record<string, unknown>): Promise<T> {
    await this.ready;
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, seq });
    });
  }
}
