/**
 * Starts a real `redis-server` on a free loopback port for a test (no persistence, so a
 * restart comes back empty, like a Redis that lost its data), and stops it afterwards.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from './server-process.ts';

export interface RedisHandle {
  url: string;
  port: number;
  /** Stops it (SIGTERM, then SIGKILL) and waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty). */
  start(): Promise<void>;
  /** The running redis-server's process id (benchmarks read its CPU time), or null. */
  pid(): number | null;
}

function redisBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'redis-server is not installed: these tests start a real Redis. Install it with ' +
        '`sudo apt-get install -y redis-server` (Debian/Ubuntu) and run them again.',
    );
  }
}

export async function startRedis(): Promise<RedisHandle> {
  const bin = redisBinary();
  const port = await freePort();
  let child: ChildProcess | null = null;

  async function start(): Promise<void> {
    const proc = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        // DEBUG SLEEP stands for a slow Redis in the tests.
        '--enable-debug-command',
        'local',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
      proc.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${out}`));
      });
    });
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (proc === null || proc.exitCode !== null) return;
    child = null;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    pid: () => (child as ChildProcess | null)?.pid ?? null,
  };
}
