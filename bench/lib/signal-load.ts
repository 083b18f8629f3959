/**
 * The load generator for `bench:signal` and `bench:scale`, run as a child process (one per
 * server or set of nodes under test) and driven over IPC (bench-process.ts `Generator`). The
 * same code drives all three servers of bench:signal; only the URL and the message shapes
 * differ (`ADAPTERS`). Given several ports (bench:scale's two nodes), the two peers of each
 * room connect to different nodes.
 *
 * It speaks WebSocket over raw TCP sockets with precomputed frames (masked with a zero key,
 * which RFC 6455 allows) and counts replies by parsing only frame headers, so it costs far
 * less CPU per message than the servers it measures: the server, not the generator, is the
 * bottleneck on a 2-core machine.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { isSignalFrame } from './signal-frames.ts';

type Kind = 'ours' | 'peerjs' | 'bare';

interface Adapter {
  path(id: string): string;
  /** First text message after the upgrade (our `join`), or null. */
  hello(room: string): string | null;
  /** True once a setup-phase text frame shows the socket is registered; may set conn.peerId. */
  registered(conn: Conn, text: string): boolean;
  /** Is the server's registration implicit in the 101 response? */
  readyAtUpgrade: boolean;
  message(to: string, payload: string): string;
}

const ADAPTERS: Record<Kind, Adapter> = {
  ours: {
    path: () => '/ws',
    hello: (room) => JSON.stringify({ v: 1, type: 'join', room }),
    registered(conn, text) {
      const msg = JSON.parse(text) as { type: string; peerId?: string; peers?: string[] };
      if (msg.type === 'joined') conn.peerId = msg.peerId ?? '';
      if (msg.type === 'joined' && (msg.peers?.length ?? 0) > 0) conn.sawPeer = true;
      if (msg.type === 'peer-joined') conn.sawPeer = true;
      if (msg.type === 'error') throw new Error(`server refused: ${text}`);
      return msg.type === 'joined';
    },
    readyAtUpgrade: false,
    message: (to, payload) => `{"v":1,"type":"signal","to":"${to}","data":"${payload}"}`,
  },
  peerjs: {
    path: (id) => `/peerjs?key=peerjs&id=${id}&token=${randomBytes(6).toString('hex')}`,
    hello: () => null,
    registered(_conn, text) {
      const msg = JSON.parse(text) as { type: string };
      if (msg.type !== 'OPEN') throw new Error(`server refused: ${text}`);
      return true;
    },
    readyAtUpgrade: false,
    message: (to, payload) => `{"type":"OFFER","dst":"${to}","payload":"${payload}"}`,
  },
  bare: {
    path: (id) => `/ws?id=${id}`,
    hello: () => null,
    registered: () => true,
    readyAtUpgrade: true,
    message: (to, payload) => `{"to":"${to}","data":"${payload}"}`,
  },
};

const MESSAGE_BYTES = 500;

class Conn {
  peerId = '';
  sawPeer = false;
  pending: Buffer | null = null;
  upgraded = false;
  closed = false;
  /** Send timestamps of messages on their way to this socket, oldest first. */
  queue: number[] = [];
  head = 0;
  onText: ((text: string) => void) | null = null;
  frame: Buffer | null = null;
  constructor(
    readonly sock: Socket,
    readonly id: string,
  ) {}
}

// ---------- latency histogram: 10 µs buckets up to 5 s ----------
const BUCKET_US = 10;
const hist = new Uint32Array(500_001);
let received = 0;
let counting = false;

function record(ms: number): void {
  const i = Math.min(hist.length - 1, Math.floor((ms * 1000) / BUCKET_US));
  hist[i]!++;
}

function percentile(p: number): number {
  let total = 0;
  for (const c of hist) total += c;
  if (total === 0) return Number.NaN;
  const want = Math.ceil(total * p);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= want) return ((i + 1) * BUCKET_US) / 1000;
  }
  return Number.POSITIVE_INFINITY;
}

// ---------- WebSocket framing ----------
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(len, 6);
  }
  // Mask key 0,0,0,0 (already zero): the payload goes out as is.
  payload.copy(out, head + 4);
  return out;
}

function onFrames(conn: Conn, chunk: Buffer): void {
  const buf = conn.pending ? Buffer.concat([conn.pending, chunk]) : chunk;
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off]!;
    let len = buf[off + 1]! & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = buf.readUInt32BE(off + 6);
      hdr = 10;
    }
    if (buf.length - off < hdr + len) break;
    const opcode = b0 & 0x0f;
    const start = off + hdr;
    if (opcode === 1) {
      if (conn.onText) conn.onText(buf.toString('utf8', start, start + len));
      else if (kind === 'ours' && !isSignalFrame(buf, start, start + len)) {
        // An error (rate-limited, …) or news is not a relayed message: it must not take a
        // message's send time, or every later message would be matched with an older one.
        if (buf.toString('utf8', start, start + len).includes('"peer-joined"')) conn.sawPeer = true;
      } else if (conn.head < conn.queue.length) {
        const sentAt = conn.queue[conn.head++]!;
        if (counting) {
          record(performance.now() - sentAt);
          received++;
        }
        if (conn.head > 4096 && conn.head * 2 > conn.queue.length) {
          conn.queue = conn.queue.slice(conn.head);
          conn.head = 0;
        }
      } else if (buf.toString('utf8', start, start + len).includes('"peer-joined"')) {
        conn.sawPeer = true;
      }
    } else if (opcode === 9) {
      conn.sock.write(clientFrame(0xa, buf.subarray(start, start + len)));
    } else if (opcode === 8) {
      conn.closed = true;
    }
    off = start + len;
  }
  conn.pending = off < buf.length ? Buffer.from(buf.subarray(off)) : null;
}

/**
 * One read buffer shared by every socket: with `onread`, Node reads into it and calls us
 * directly, with no Buffer per read and no stream machinery. Everything kept beyond the
 * callback is copied (onFrames copies a partial frame into `pending`).
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

function open(port: number, kind: Kind, room: string): Promise<Conn> {
  const adapter = ADAPTERS[kind];
  const id = randomBytes(12).toString('base64url');
  return new Promise((resolve, reject) => {
    let header = '';
    const onData = (chunk: Buffer) => {
      if (conn.upgraded) {
        onFrames(conn, chunk);
        return;
      }
      header += chunk.toString('latin1');
      const end = header.indexOf('\r\n\r\n');
      if (end === -1) return;
      if (!header.startsWith('HTTP/1.1 101')) {
        fail(new Error(`upgrade refused: ${header.split('\r\n')[0]}`));
        sock.destroy();
        return;
      }
      conn.upgraded = true;
      const hello = adapter.hello(room);
      if (hello !== null) sock.write(clientFrame(1, Buffer.from(hello)));
      if (adapter.readyAtUpgrade) ready();
      const rest = Buffer.from(header.slice(end + 4), 'latin1');
      if (rest.length > 0) onFrames(conn, rest);
    };
    const sock = connect({
      port,
      host: '127.0.0.1',
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread: number, buf: Uint8Array) => {
          onData(Buffer.from(buf.buffer, buf.byteOffset, nread));
          return true;
        },
      },
    });
    const conn = new Conn(sock, id);
    const fail = (err: Error) => reject(err);
    sock.on('error', fail);
    sock.on('close', () => {
      conn.closed = true;
    });
    const ready = () => {
      conn.onText = null;
      resolve(conn);
    };
    sock.on('connect', () => {
      sock.write(
        `GET ${adapter.path(id)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    conn.onText = (text) => {
      try {
        if (adapter.registered(conn, text)) ready();
      } catch (err) {
        fail(err as Error);
      }
    };
  });
}

/**
 * `open`, tried up to three times when the server turns the socket away (an upgrade answered
 * 400 or 503, or `unavailable`): on a machine loaded by other work an upgrade can outlast the
 * server's header timeout, and that is not what the benchmark measures.
 */
async function openRetrying(port: number, kind: Kind, room: string): Promise<Conn> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open(port, kind, room);
    } catch (err) {
      if (attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/**
 * Opens `count` more sockets into `into`, two per room. With several ports (several server
 * nodes), socket i goes to ports[i % ports.length]: the two peers of a room are on different
 * nodes when there are two.
 */
async function openMany(ports: readonly number[], kind: Kind, count: number, into: Conn[]): Promise<void> {
  const concurrency = 200;
  let next = into.length;
  const target = into.length + count;
  const rooms = new Map<number, string>();
  const worker = async () => {
    while (next < target) {
      const i = next++;
      const pair = Math.floor(i / 2);
      let room = rooms.get(pair);
      if (room === undefined) {
        room = randomBytes(16).toString('base64url');
        rooms.set(pair, room);
      } else rooms.delete(pair);
      into[i] = await openRetrying(ports[i % ports.length]!, kind, room);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function closeAll(conns: Conn[]): Promise<void> {
  return new Promise((resolve) => {
    const open = conns.filter((c) => !c.sock.destroyed);
    let left = open.length;
    if (left === 0) resolve();
    // Hanging up the way a real client does: ours gets `leave` first, so the server does not
    // keep 15 000 peer ids reclaimable for a minute (resume) while the relay phase runs.
    const leave = kind === 'ours' ? clientFrame(1, Buffer.from('{"v":1,"type":"leave"}')) : null;
    for (const c of open) {
      c.sock.once('close', () => {
        if (--left === 0) resolve();
      });
      if (leave !== null) c.sock.write(leave);
      c.sock.end(clientFrame(8, Buffer.from([0x03, 0xe8])));
      setTimeout(() => c.sock.destroy(), 2000).unref();
    }
    conns.length = 0;
  });
}

// ---------- state and commands ----------
let kind: Kind = 'ours';
let ports: number[] = [];
const idle: Conn[] = [];
const pairs: Conn[] = [];
/** pairs[2i] and pairs[2i+1] talk to each other; `route[k]` is the receiver of pairs[k]. */
let route: Conn[] = [];

async function setupPairs(n: number): Promise<void> {
  await openMany(ports, kind, n * 2, pairs);
  if (kind === 'ours') {
    // Whoever of a pair joined first hears of the other by peer-joined: wait until every
    // socket has seen its partner, so no setup frame is counted as a relayed message.
    while (pairs.some((c) => !c.sawPeer)) await new Promise((r) => setTimeout(r, 20));
  }
  route = pairs.map((_, i) => pairs[i % 2 === 0 ? i + 1 : i - 1]!);
  const adapter = ADAPTERS[kind];
  for (let i = 0; i < pairs.length; i++) {
    const to = kind === 'ours' ? route[i]!.peerId : route[i]!.id;
    const empty = adapter.message(to, '');
    const payload = 'x'.repeat(Math.max(0, MESSAGE_BYTES - Buffer.byteLength(empty)));
    pairs[i]!.frame = clientFrame(1, Buffer.from(adapter.message(to, payload)));
  }
}

interface StepResult {
  rate: number;
  sent: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
  /** The generator could not offer the rate asked for (its own limit, not the server's). */
  genLimited: boolean;
  durationMs: number;
  /** Messages of earlier steps still arriving when this one was due, waited for first. */
  backlog: number;
}

/** Messages sent to the pairs and not arrived yet. */
function outstanding(): number {
  let n = 0;
  for (const c of pairs) n += c.queue.length - c.head;
  return n;
}

/**
 * Before a step: waits for what earlier steps left on the way (a server that fell behind
 * still has it queued), so a step measures its own messages only, and returns how many that
 * was. What stops arriving for 5 s is lost: its send times are dropped, so that later
 * messages are not matched with them. Throws if the server closed pair sockets: every step
 * after that would measure nothing.
 */
async function settle(): Promise<number> {
  const closed = pairs.filter((c) => c.closed).length;
  if (closed > 0) {
    throw new Error(
      `${closed} of ${pairs.length} pair sockets were closed by the server (rate limit? see its log); later steps would measure nothing`,
    );
  }
  const backlog = outstanding();
  let left = backlog;
  let progressAt = performance.now();
  while (left > 0 && performance.now() - progressAt < 5000) {
    await new Promise((r) => setTimeout(r, 10));
    const now = outstanding();
    if (now < left) progressAt = performance.now();
    left = now;
  }
  if (left > 0) {
    for (const c of pairs) {
      c.queue = [];
      c.head = 0;
    }
  }
  return backlog;
}

async function step(rate: number, durationMs: number, waitMs = 3000): Promise<StepResult> {
  const backlog = await settle();
  hist.fill(0);
  received = 0;
  counting = true;
  let sent = 0;
  let k = 0;
  const n = pairs.length;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const elapsed = Math.min(now - start, durationMs);
      const due = Math.floor((rate * elapsed) / 1000);
      while (sent < due) {
        const from = pairs[k]!;
        const to = route[k]!;
        to.queue.push(performance.now());
        from.sock.write(from.frame!);
        sent++;
        k = k + 1 === n ? 0 : k + 1;
      }
      if (now - start >= durationMs) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  const sendEnd = performance.now();
  // Let in-flight messages land (bounded wait; anything later counts as lost for this step).
  const deadline = sendEnd + waitMs;
  while (received < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  counting = false;
  const lost = sent - received;
  for (let i = 0; i < lost; i++) hist[hist.length - 1]!++;
  return {
    rate,
    sent,
    received,
    p50: percentile(0.5),
    p99: percentile(0.99),
    max: percentile(1),
    genLimited: sendEnd - start > durationMs + 200,
    durationMs,
    backlog,
  };
}

type Command =
  | { cmd: 'init'; kind: Kind; port?: number; ports?: number[] }
  | { cmd: 'idle'; total: number }
  | { cmd: 'closeIdle' }
  | { cmd: 'pairs'; n: number }
  | { cmd: 'step'; rate: number; durationMs: number; waitMs?: number }
  | { cmd: 'exit' };

process.on('message', (raw) => {
  const command = raw as Command & { seq: number };
  const reply = (result: unknown) => process.send?.({ seq: command.seq, result });
  const fail = (err: unknown) => process.send?.({ seq: command.seq, error: String(err) });
  switch (command.cmd) {
    case 'init':
      kind = command.kind;
      ports = command.ports ?? [command.port ?? 0];
      reply({ ok: true });
      return;
    case 'idle':
      openMany(ports, kind, command.total - idle.length, idle)
        .then(() => reply({ sockets: idle.length, closed: idle.filter((c) => c.closed).length }))
        .catch(fail);
      return;
    case 'closeIdle':
      closeAll(idle)
        .then(() => reply({ ok: true }))
        .catch(fail);
      return;
    case 'pairs':
      setupPairs(command.n)
        .then(() => reply({ sockets: pairs.length }))
        .catch(fail);
      return;
    case 'step':
      step(command.rate, command.durationMs, command.waitMs).then(reply).catch(fail);
      return;
    case 'exit':
      closeAll([...idle, ...pairs]).finally(() => process.exit(0));
      return;
  }
});

// Messages sent before this listener exists would be lost: tell the parent we are listening.
process.send?.({ ready: true });
