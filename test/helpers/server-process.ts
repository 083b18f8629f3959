/**
 * Starts the real signaling server (`node --import tsx server/main.ts`) on a free loopback
 * port for a test, and stops it afterwards. Every integration and e2e test talks to a real
 * process, never to an in-process mock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerHandle {
  url: string;
  port: number;
  /** Every line the server printed (pino JSON), for assertions and for debugging failures. */
  logs: string[];
  process: ChildProcess;
  /** Sends the signal (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const address = srv.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** The port from the server's 'listening' log line, or 0 before it is logged. */
function listeningPort(logs: readonly string[]): number {
  for (const line of logs) {
    if (!line.includes('"msg":"listening"')) continue;
    try {
      const port = (JSON.parse(line) as { port?: unknown }).port;
      if (typeof port === 'number' && port > 0) return port;
    } catch {
      // not a JSON line
    }
  }
  return 0;
}

/**
 * Starts the server and waits until /readyz answers 200; with `{ ready: false }` only until it
 * listens (/livez answers 200), for a test of what it says before it is ready.
 */
export async function startServer(
  env: Record<string, string> = {},
  { ready = true }: { ready?: boolean } = {},
): Promise<ServerHandle> {
  // Port 0 unless the test needs a fixed one: the server picks a free port and logs it, so no
  // other process can take it between our choosing and its binding (freePort's race).
  // (A quieter LOG_LEVEL hides that line: then a port chosen here has to do.)
  const logsListening = ['trace', 'debug', 'info', undefined].includes(env.LOG_LEVEL);
  const fixed = env.PORT ? Number(env.PORT) : logsListening ? 0 : await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env, PORT: String(fixed) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(line);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let exited = false;
  const exit = once(child, 'exit').then(([code]) => {
    exited = true;
    return code as number | null;
  });

  // Generous: on a loaded 2-core machine a cold `tsx` start has taken over 15 s.
  const deadline = Date.now() + 45_000;
  let port = fixed;
  for (;;) {
    if (exited) throw new Error(`Signaling server exited during startup:\n${logs.join('\n')}`);
    if (port === 0) port = listeningPort(logs);
    if (port === 0) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Signaling server did not say where it listens:\n${logs.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const url = `http://127.0.0.1:${port}`;
    try {
      const res = await fetch(`${url}/${ready ? 'readyz' : 'livez'}`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Signaling server did not become ready on ${url}:\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    logs,
    process: child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exited) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const code = await exit;
        clearTimeout(timer);
        return code;
      }
      return exit;
    },
  };
}
