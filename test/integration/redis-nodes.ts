/**
 * What the Redis integration tests (several real server processes on one real Redis) share:
 * messages, resuming on another node, reading a node's /metrics, and waiting for a state.
 */
import type { RedisClientType } from '@redis/client';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { type Msg, TestClient } from './ws-client.ts';

/**
 * Starts a server process with `env` (REDIS_URL in it) and waits until its rooms are connected
 * to Redis (its /readyz answers 200 only then, which startServer waits for; the log line is
 * checked as well).
 */
export async function startNode(env: Record<string, string>): Promise<ServerHandle> {
  const n = await startServer(env);
  await until(
    'the node to connect to Redis',
    () => n.logs.some((l) => l.includes('"msg":"connected to redis"')),
    30_000,
  );
  return n;
}

export function signal(to: string, data: unknown) {
  return { v: 1, type: 'signal', to, data };
}

/** Opens a socket to `url` and resumes `peerId` there; resolves with the reply to the join. */
export async function resumeOn(url: string, room: string, peerId: string, token: string) {
  const client = await TestClient.open(url);
  client.send({ v: 1, type: 'join', room, resume: { peerId, token } });
  return { client, joined: await client.next() };
}

/** Membership news a client got since it last looked (peer-joined / peer-left). */
export async function news(client: TestClient): Promise<Msg[]> {
  return (await client.drain()).filter((m) => m.type === 'peer-joined' || m.type === 'peer-left');
}

/** A counter from a node's /metrics. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (m === null) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

/** Waits until `holds` is true (checked every 20 ms); throws naming `what` after `ms`. */
export async function until(what: string, holds: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await holds())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The id of the node a member of `room` is on (its entry in the room's hash). */
export async function nodeOf(admin: RedisClientType, room: string, peerId: string): Promise<string> {
  const entry = await admin.hGet(`parley:room:${room}`, `m:${peerId}`);
  if (entry === null || entry === undefined) throw new Error(`${peerId} is not a live member of the room`);
  return String(entry).split('|')[0] ?? '';
}

/** Whether Redis counts a subscriber on node `node`'s live channel (the node is there). */
export async function holdsLiveChannel(admin: RedisClientType, node: string): Promise<boolean> {
  const numsub = (await admin.sendCommand(['PUBSUB', 'NUMSUB', `parley:nl:${node}`])) as [string, number];
  return Number(numsub[1]) > 0;
}
