/**
 * One node's connection to Redis, as the rooms (redis-rooms.ts) and the presence directory
 * (redis-presence.ts) each hold one: a command client and a subscriber (pub/sub needs its own
 * connection), both failing commands at once while disconnected (a join or ring gets
 * `unavailable` instead of waiting) and reconnecting by themselves; Lua scripts run by SHA
 * (loaded again after a restarted Redis forgot them); commands with a deadline.
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

export interface RedisConnection {
  /** Commands (in order, on one connection). */
  readonly cmd: RedisClientType;
  /** Subscriptions (the client subscribes again after a reconnect). */
  readonly sub: RedisClientType;
  /** Runs a Lua script by its SHA, loading it first if Redis does not know it. */
  run(script: string, keys: string[], args: string[]): Promise<unknown>;
  /** `p`, or a `redis timeout` error after timeoutMs. */
  timed<T>(p: Promise<T>): Promise<T>;
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
    async close() {
      closed = true;
      const quit = Promise.allSettled([cmd.close(), sub.close()]);
      await Promise.race([quit, new Promise((r) => setTimeout(r, 1000).unref())]);
      cmd.destroy();
      sub.destroy();
    },
  };
}
