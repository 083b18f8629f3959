/**
 * One node's connection to Redis, as the rooms (redis-rooms.ts) and the presence directory
 * (redis-presence.ts) each hold one: a command client and a subscriber (pub/sub needs its own
 * connection), both failing commands at once while disconnected (a join or ring gets
 * `unavailable` instead of waiting) and reconnecting by themselves; Lua scripts run by SHA
 * (loaded again after a restarted Redis forgot them); commands with a deadline; the channels a
 * node listens on for as long as it runs (`keep`), subscribed again when a SUBSCRIBE failed;
 * and whether all of that is up (`ready`, which /readyz reports).
 */
import { createClient, type RedisClientType } from '@redis/client';
import type { Logger } from './log.ts';

export interface RedisConnectionOptions {
  url: string;
  /** Names the connection in logs ("rooms", "presence"). */
  name: string;
  /** A command passed to `timed` that Redis has not answered within this fails. */
  timeoutMs: number;
  /**
   * The command client is ready: at first (`again` false) and after every outage (`again`
   * true: Redis may have restarted empty). Not called once closed.
   */
  onReady(again: boolean): void;
}

/** A channel subscribed for as long as the connection lives (`RedisConnection.keep`). */
export interface KeptChannel {
  /** Stops keeping it: unsubscribes, resolves once Redis has confirmed that. */
  drop(): Promise<void>;
}

export type ChannelListener = (message: Buffer, channel: Buffer) => void;

export interface RedisConnection {
  /** Commands (in order, on one connection). */
  readonly cmd: RedisClientType;
  /** Subscriptions (the client subscribes again after a reconnect). */
  readonly sub: RedisClientType;
  /** Runs a Lua script by its SHA, loading it first if Redis does not know it. */
  run(script: string, keys: string[], args: string[]): Promise<unknown>;
  /** `p`, or a `redis timeout` error after timeoutMs. */
  timed<T>(p: Promise<T>): Promise<T>;
  /**
   * Subscribes `channel` (messages as Buffers) for as long as this connection lives. The client
   * subscribes its channels again by itself after a reconnect, but a SUBSCRIBE that failed
   * (Redis unreachable when the node started, or lost while it was on its way) is forgotten
   * by it: this one is sent again once the subscriber is back.
   */
  keep(channel: string, listener: ChannelListener): KeptChannel;
  /**
   * Both clients connected and every kept channel subscribed (Redis confirmed it): what a
   * load balancer asks through /readyz before it sends this node new sockets.
   */
  ready(): boolean;
  /** Closes both clients (waits at most a second for them to quit cleanly). */
  close(): Promise<void>;
}

export function connectRedis(options: RedisConnectionOptions, log: Logger): RedisConnection {
  let closed = false;
  let everReady = false;
  let outage = false;
  const cmd = createClient({
    url: options.url,
    disableOfflineQueue: true,
    // No per-command timeout in the library: its default (5 s) arms an AbortSignal and two
    // listeners for every command, every relayed PUBLISH included (seen in CPU profiles of the
    // cross-node relay), and cut commands at 5 s whatever REDIS_TIMEOUT_MS says. Commands that
    // someone waits for have their own deadline (`timed`); a lost connection fails them all.
    commandOptions: { timeout: 0 },
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) => Math.min(100 + retries * 100, 1000),
    },
  }) as RedisClientType;
  const sub = cmd.duplicate() as RedisClientType;
  for (const [client, role] of [
    [cmd, 'commands'],
    [sub, 'subscriber'],
  ] as const) {
    client.on('error', (err: Error) => {
      if (!outage && !closed) {
        log.warn({ err: err.message, client: `${options.name} ${role}` }, 'redis unreachable; reconnecting');
      }
      if (client === cmd) outage = true;
    });
  }
  cmd.on('ready', () => {
    if (closed) return;
    const again = everReady;
    everReady = true;
    outage = false;
    options.onReady(again);
  });
  cmd
    .connect()
    .catch((err: Error) =>
      log.warn({ err: err.message, client: options.name }, 'redis: first connection failed'),
    );
  sub.connect().catch(() => {});

  /** Kept channels: `subscribed` once Redis confirmed, `sending` while a SUBSCRIBE is out. */
  interface Kept {
    listener: ChannelListener;
    subscribed: boolean;
    sending: boolean;
  }
  const kept = new Map<string, Kept>();
  function subscribe(channel: string, entry: Kept): void {
    if (entry.sending || entry.subscribed || closed || kept.get(channel) !== entry) return;
    entry.sending = true;
    sub.subscribe(channel, entry.listener, true).then(
      () => {
        entry.sending = false;
        if (kept.get(channel) !== entry) return;
        entry.subscribed = true;
      },
      () => {
        entry.sending = false;
        // Back already (the failure raced the reconnect): again shortly; else on 'ready'.
        if (sub.isReady) setTimeout(() => subscribe(channel, entry), 200).unref();
      },
    );
  }
  // 'ready' comes once the client has subscribed again to the channels it knows of; the
  // ones whose SUBSCRIBE failed it does not know of.
  sub.on('ready', () => {
    for (const [channel, entry] of kept) subscribe(channel, entry);
  });

  function keep(channel: string, listener: ChannelListener): KeptChannel {
    const entry: Kept = { listener, subscribed: false, sending: false };
    kept.set(channel, entry);
    subscribe(channel, entry);
    return {
      async drop() {
        if (kept.get(channel) === entry) kept.delete(channel);
        entry.subscribed = false;
        await sub.unsubscribe(channel);
      },
    };
  }

  const shas = new Map<string, string>();
  async function run(script: string, keys: string[], args: string[]): Promise<unknown> {
    let sha = shas.get(script);
    if (sha !== undefined) {
      try {
        return await cmd.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
      } catch (err) {
        if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      }
    }
    sha = String(await cmd.sendCommand(['SCRIPT', 'LOAD', script]));
    shas.set(script, sha);
    return cmd.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
  }

  function timed<T>(p: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('redis timeout')), options.timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  return {
    cmd,
    sub,
    run,
    timed,
    keep,
    ready() {
      if (closed || !cmd.isReady || !sub.isReady) return false;
      for (const entry of kept.values()) if (!entry.subscribed) return false;
      return true;
    },
    async close() {
      closed = true;
      const quit = Promise.allSettled([cmd.close(), sub.close()]);
      await Promise.race([quit, new Promise((r) => setTimeout(r, 1000).unref())]);
      cmd.destroy();
      sub.destroy();
    },
  };
}
