/**
 * A Redis connection that only sends (PUBLISH, or EVAL of the relay's script), with replies switched off (`CLIENT REPLY OFF`): the
 * relay's batches between nodes (signal-batch.ts) go out on it. Every other command stays on
 * node-redis (redis-connection.ts); this one exists because a relayed batch needs no answer,
 * and waiting for one cost each batch a second wake-up of the sending node, a RESP parse and a
 * promise (node-redis has no fire-and-forget mode). It speaks the few lines of RESP it needs.
 *
 * On connect it authenticates from the URL (`redis://[user:]password@host`, `rediss://` for
 * TLS) and checks the answer with a PING before it switches replies off and takes batches.
 * While it is not connected, `publish` drops (and says so): the relay is then as lossy as
 * Redis being away, which joins already report as `unavailable`. It reconnects by itself.
 * Pub/sub ignores the database number, so the URL's `/db` needs no SELECT.
 */
import { createHash } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Logger } from './log.ts';

/** Writes waiting in our socket beyond this (Redis stalled) are not added to: dropped. */
const MAX_BACKLOG_BYTES = 16 * 1024 * 1024;
const CRLF = Buffer.from('\r\n', 'latin1');

export interface RedisPublisher {
  /** Connected, authenticated, replies off. */
  readonly ready: boolean;
  /** PUBLISH `channel` with the concatenation of `parts` (`bytes` long); false if dropped. */
  publish(channel: string, parts: readonly Buffer[], bytes: number): boolean;
  /**
   * Runs `script` with `keys`, the concatenation of `parts` (`bytes` long) as its first
   * argument and `args` after it; false if dropped. Its answer is never read (nor an error).
   * A script given to connectPublisher goes by its SHA (EVALSHA: loaded on every connect),
   * any other in full (EVAL).
   */
  evalWith(
    script: string,
    keys: readonly string[],
    parts: readonly Buffer[],
    bytes: number,
    args: readonly string[],
  ): boolean;
  /** Sends what was published and closes (waits at most a second). */
  close(): Promise<void>;
}

function bulk(a: string): string {
  return `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
}

function command(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map(bulk).join('')}`;
}

/**
 * `scripts`: Lua scripts `evalWith` will run, loaded on every connect so that a batch carries
 * only their SHA. (Replies are off, so a NOSCRIPT error would go unseen: whoever empties the
 * script cache of a running Redis must load them again; redis-relay.ts does so every few
 * seconds.)
 */
export function connectPublisher(url: string, log: Logger, scripts: readonly string[] = []): RedisPublisher {
  const shas = new Map(scripts.map((script) => [script, createHash('sha1').update(script).digest('hex')]));
  const u = new URL(url);
  const tls = u.protocol === 'rediss:';
  const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(u.port || 6379);
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  let socket: Socket | null = null;
  let ready = false;
  let closed = false;
  let retries = 0;
  let dropped = 0;
  let warned = false;

  function open(): void {
    if (closed) return;
    // No Nagle: Redis never answers on this connection, so its ACKs come late (delayed ACK),
    // and a batch must not wait for the previous one's.
    const raw = tcpConnect({ host, port, noDelay: true });
    const s = tls ? tlsConnect({ socket: raw, servername: host }) : raw;
    socket = s;
    let greeting = '';
    s.on(tls ? 'secureConnect' : 'connect', () => {
      let hello = '';
      if (password !== '') hello += command(user !== '' ? ['AUTH', user, password] : ['AUTH', password]);
      for (const script of shas.keys()) hello += command(['SCRIPT', 'LOAD', script]);
      s.write(`${hello}${command(['PING'])}`);
    });
    s.on('data', (chunk: Buffer) => {
      if (ready) return; // replies are off: nothing else comes, and whatever does is not ours
      greeting += chunk.toString('latin1');
      if (greeting.startsWith('-') || greeting.includes('\r\n-')) {
        // Once per outage, as for a connection error: it retries every second meanwhile.
        if (!warned) log.warn({ err: greeting.split('\r\n')[0] }, 'redis publisher refused');
        warned = true;
        s.destroy();
        return;
      }
      if (!greeting.includes('+PONG\r\n')) return;
      s.write(command(['CLIENT', 'REPLY', 'OFF']));
      ready = true;
      retries = 0;
      if (warned) log.info({ dropped }, 'redis publisher connected again');
      warned = false;
      dropped = 0;
    });
    s.on('error', (err: Error) => {
      if (!warned && !closed) log.warn({ err: err.message }, 'redis publisher unreachable; reconnecting');
      warned = true;
    });
    s.on('close', () => {
      if (socket !== s) return;
      ready = false;
      socket = null;
      if (closed) return;
      warned = true;
      setTimeout(open, Math.min(100 + retries++ * 100, 1000)).unref();
    });
  }
  open();

  /** Writes `head`, a bulk string of `parts` (`bytes` long), then `tail`: one command, one write. */
  function send(head: string, parts: readonly Buffer[], bytes: number, tail: string): boolean {
    const s = socket;
    if (!ready || s === null || s.writableLength > MAX_BACKLOG_BYTES) {
      dropped++;
      return false;
    }
    const open = `${head}$${bytes}\r\n`;
    const openBytes = Buffer.byteLength(open);
    const out = Buffer.allocUnsafe(openBytes + bytes + 2 + Buffer.byteLength(tail));
    let o = out.write(open, 0);
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    o += CRLF.copy(out, o);
    if (tail !== '') out.write(tail, o);
    s.write(out);
    return true;
  }

  return {
    get ready() {
      return ready;
    },
    publish(channel, parts, bytes) {
      return send(`*3\r\n$7\r\nPUBLISH\r\n${bulk(channel)}`, parts, bytes, '');
    },
    evalWith(script, keys, parts, bytes, args) {
      const sha = shas.get(script);
      let head = `*${4 + keys.length + args.length}\r\n${sha === undefined ? `$4\r\nEVAL\r\n${bulk(script)}` : `$7\r\nEVALSHA\r\n${bulk(sha)}`}${bulk(String(keys.length))}`;
      for (const k of keys) head += bulk(k);
      let tail = '';
      for (const a of args) tail += bulk(a);
      return send(head, parts, bytes, tail);
    },
    async close() {
      closed = true;
      ready = false;
      const s = socket;
      if (s === null) return;
      await Promise.race([
        new Promise((r) => {
          s.once('close', r);
          s.end();
        }),
        new Promise((r) => setTimeout(r, 1000).unref()),
      ]);
      s.destroy();
    },
  };
}
