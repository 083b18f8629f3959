/**
 * `npm run bench:presence`: the signaling server's memory per presence socket, beside idle
 * joined sockets measured in the same run on the same server process.
 *
 Each on a fresh server process, after a warm-up of 300 sockets of the same kind:
 * 1. N sockets join rooms, two per room (what bench:signal calls an idle socket); the server's
 *    RSS after full GCs, over its RSS before, per socket.
 * 2. N sockets each with its own identity: challenge, register (an Ed25519 signature the
 *    server checks), and MAILBOXES mailboxes (one per contact); same measurement.
 *
 * The server runs with bench/lib/gc-on-signal.ts preloaded, so RSS is read after two full GCs.
 * The headline figure is RSS (what the machine pays); beside it, from the same readings, the
 * live JS heap per socket (GC_REPORT), which is steadier: RSS also moves with what malloc and
 * V8's young generation kept from the burst of connections (±0.3 KB per socket run to run).
 * The last line is one JSON object. Usage: npm run bench:presence [-- --quick]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { toBase64Url } from '../src/identity/bytes.ts';
import { generateIdentity, signText } from '../src/identity/keys.ts';
import { presenceProofText } from '../src/protocol/presence.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const QUICK = process.argv.includes('--quick');
const SOCKETS = QUICK ? 1000 : 10_000;
const MAILBOXES = 5;
const CONCURRENCY = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/** The last heap report of each server (bench/lib/gc-on-signal.ts with GC_REPORT=1). */
const heapUsed = new Map<ChildProcess, number>();

async function settledRss(child: ChildProcess): Promise<number> {
  for (let i = 0; i < 2; i++) {
    child.kill('SIGUSR2');
    await sleep(700);
  }
  return rssBytes(child.pid as number);
}

async function startServer(): Promise<{ child: ChildProcess; port: number }> {
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
      'server/main.ts',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        PORT: '0',
        // All load comes from 127.0.0.1.
        MAX_CONNECTIONS_PER_IP: '1000000',
        GC_REPORT: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  child.stdout?.resume();
  let errors = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
    for (let nl = errors.indexOf('\n'); nl !== -1; nl = errors.indexOf('\n')) {
      const line = errors.slice(0, nl);
      errors = errors.slice(nl + 1);
      const report = /^gc-report (.*)$/.exec(line)?.[1];
      if (report !== undefined) heapUsed.set(child, (JSON.parse(report) as { heapUsed: number }).heapUsed);
      else process.stderr.write(`${line}\n`);
    }
  });
  return { child, port };
}

/** One client socket with a queue of replies. */
class Client {
  private waiters: ((m: Record<string, unknown>) => void)[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      this.waiters.shift()?.(msg);
    });
    ws.on('error', () => {});
  }
  static async open(port: number): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
    await once(ws, 'open');
    return new Client(ws);
  }
  ask(message: unknown): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.ws.send(JSON.stringify(message));
    });
  }
}

async function openMany(count: number, setup: (c: Client, i: number) => Promise<void>, port: number) {
  const clients: Client[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const client = await Client.open(port);
      await setup(client, i);
      clients[i] = client;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return clients;
}

async function closeAll(clients: Client[]): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      c.ws.send('{"v":1,"type":"leave"}');
      c.ws.close();
      await once(c.ws, 'close');
    }),
  );
}

function joinSetup(rooms: string[]) {
  return async (c: Client, i: number) => {
    const pair = Math.floor(i / 2);
    rooms[pair] ??= toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
    const reply = await c.ask({ v: 1, type: 'join', room: rooms[pair] });
    if (reply.type !== 'joined') throw new Error(`join refused: ${JSON.stringify(reply)}`);
  };
}

function presenceSetup(port: number) {
  const origin = `http://127.0.0.1:${port}`;
  return async (c: Client) => {
    const me = await generateIdentity();
    const challenge = await c.ask({ v: 1, type: 'challenge' });
    const signature = await signText(me, presenceProofText(origin, challenge.nonce as string, me.publicKey));
    const registered = await c.ask({ v: 1, type: 'register', key: me.publicKey, signature });
    if (registered.type !== 'registered') throw new Error(`register refused: ${JSON.stringify(registered)}`);
    const tags = Array.from({ length: MAILBOXES }, () =>
      toBase64Url(crypto.getRandomValues(new Uint8Array(32))),
    );
    const withMailboxes = await c.ask({ v: 1, type: 'mailboxes', tags });
    if ((withMailboxes.mailboxes as string[] | undefined)?.length !== MAILBOXES) {
      throw new Error(`mailboxes refused: ${JSON.stringify(withMailboxes)}`);
    }
  };
}

/**
 * One measurement on a fresh server process: warm up with 300 sockets of the same kind (closed
 * again), read the settled RSS, open SOCKETS sockets, read it again. A fresh process per
 * measurement, because RSS does not shrink when sockets close: a second measurement in the
 * same process would reuse the first one's pages and read low.
 */
interface Reading {
  /** RSS growth per socket, KB. */
  kb: number;
  /** Live JS heap growth per socket, KB. */
  heapKb: number;
}

async function measure(label: string, kind: 'joined' | 'presence'): Promise<Reading> {
  const { child: server, port } = await startServer();
  try {
    const setup = kind === 'joined' ? joinSetup([]) : presenceSetup(port);
    await closeAll(await openMany(300, setup, port));
    await sleep(1000);
    const base = await settledRss(server);
    const baseHeap = heapUsed.get(server) ?? Number.NaN;
    const started = Date.now();
    const clients = await openMany(SOCKETS, kind === 'joined' ? joinSetup([]) : setup, port);
    await sleep(1000);
    const kb = ((await settledRss(server)) - base) / SOCKETS / 1024;
    const heapKb = ((heapUsed.get(server) ?? Number.NaN) - baseHeap) / SOCKETS / 1024;
    process.stdout.write(
      `  ${label}: ${SOCKETS} sockets in ${((Date.now() - started) / 1000).toFixed(1)} s, +${kb.toFixed(2)} KB each (JS heap +${heapKb.toFixed(2)} KB)\n`,
    );
    await closeAll(clients);
    return { kb, heapKb };
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `bench:presence: ${SOCKETS} sockets, ${MAILBOXES} mailboxes each; load average ${loadavg()[0]?.toFixed(1)} on this machine (other work running skews timings, not memory)\n`,
  );
  const joinedReading = await measure('joined (idle) sockets', 'joined');
  const presenceReading = await measure('presence sockets (registered, not in a room)', 'presence');
  const joined = joinedReading.kb;
  const presence = presenceReading.kb;
  const ratio = presence / joined;
  process.stdout.write(
    `presence socket ${presence.toFixed(2)} KB (goal ≤ 5), ${ratio.toFixed(2)}× an idle joined socket; ` +
      `JS heap ${presenceReading.heapKb.toFixed(2)} KB vs ${joinedReading.heapKb.toFixed(2)} KB\n`,
  );
  process.stdout.write(
    `${JSON.stringify({
      bench: 'presence',
      sockets: SOCKETS,
      mailboxes_per_socket: MAILBOXES,
      presence_kb_per_socket: Number(presence.toFixed(2)),
      joined_kb_per_socket: Number(joined.toFixed(2)),
      presence_heap_kb_per_socket: Number(presenceReading.heapKb.toFixed(2)),
      joined_heap_kb_per_socket: Number(joinedReading.heapKb.toFixed(2)),
      ratio: Number(ratio.toFixed(2)),
    })}\n`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
