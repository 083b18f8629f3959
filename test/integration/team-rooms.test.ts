/**
 * Team rooms against the real server process, with rooms in memory and in a real Redis (two
 * nodes): a join needs the key that makes the room id; `count` answers how many people are in
 * the room only to a proof of that key over the socket's nonce (everything else answers 0,
 * the same as an empty room); nothing is kept once the room is empty.
 */
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countProof, newTeamRoomLink, teamRoomKey } from '../../src/protocol/team-room.ts';
import { type RedisHandle, startRedis } from '../helpers/redis-process.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { TestClient } from './ws-client.ts';

async function teamRoom() {
  const { room, secret } = await newTeamRoomLink();
  return { room, key: await teamRoomKey(secret) };
}

async function joinTeam(url: string, room: string, key: string): Promise<TestClient> {
  const client = await TestClient.open(url);
  client.send({ v: 1, type: 'join', room, key });
  await client.next('joined');
  return client;
}

/** Asks `url` how many people are in `room`, proving `key` over a fresh nonce. */
async function count(url: string, room: string, key: string): Promise<number> {
  const client = await TestClient.open(url);
  try {
    client.send({ v: 1, type: 'count-nonce' });
    const nonce = (await client.next('count-nonce')).nonce as string;
    client.send({ v: 1, type: 'count', room, proof: await countProof(key, nonce, room) });
    const reply = await client.next('count');
    expect(reply.room).toBe(room);
    return reply.people as number;
  } finally {
    client.ws.close();
  }
}

/** Waits until `check` holds (the last leave is recorded asynchronously in Redis). */
async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function suite(name: string, nodes: () => [ServerHandle, ServerHandle], roomKeys: () => Promise<number>) {
  describe(name, () => {
    it('joins need the key; a count needs a proof of it; strangers learn nothing', async () => {
      const [a, b] = nodes();
      const { room, key } = await teamRoom();
      expect(await count(a.url, room, key)).toBe(0);
      const alice = await joinTeam(a.url, room, key);
      const bob = await joinTeam(b.url, room, key);
      await eventually(async () => (await count(a.url, room, key)) === 2);
      expect(await count(b.url, room, key)).toBe(2);

      // A stranger who knows only the room id: cannot join, and every count says 0.
      const stranger = await TestClient.open(a.url);
      stranger.send({ v: 1, type: 'join', room });
      expect(await stranger.next('error')).toMatchObject({ code: 'bad-key' });
      const other = await teamRoom();
      stranger.send({ v: 1, type: 'join', room, key: other.key });
      expect(await stranger.next('error')).toMatchObject({ code: 'bad-key', message: /does not open/ });
      stranger.send({ v: 1, type: 'count', room, proof: 'x'.repeat(43) });
      expect(await stranger.next('error')).toMatchObject({ code: 'bad-message', message: /count-nonce/ });
      stranger.send({ v: 1, type: 'count-nonce' });
      const nonce = (await stranger.next('count-nonce')).nonce as string;
      stranger.send({ v: 1, type: 'count', room, proof: await countProof(other.key, nonce, room) });
      expect(await stranger.next('count')).toMatchObject({ room, people: 0 });
      // A proof seen once (for another socket's nonce) is worth nothing on this one.
      const elsewhere = await countProof(key, 'nnnnnnnnnnnnnnnnnnnnnn', room);
      stranger.send({ v: 1, type: 'count', room, proof: elsewhere });
      expect(await stranger.next('count')).toMatchObject({ room, people: 0 });
      // An ordinary room is not counted either.
      stranger.send({ v: 1, type: 'count', room: 'abcdefghijklmnopqrstuv', proof: elsewhere });
      expect(await stranger.next('count')).toMatchObject({ people: 0 });
      stranger.ws.close();

      alice.send({ v: 1, type: 'leave' });
      await eventually(async () => (await count(a.url, room, key)) === 1);
      bob.send({ v: 1, type: 'leave' });
      await eventually(async () => (await count(b.url, room, key)) === 0);
      await eventually(async () => (await roomKeys()) === 0);
      alice.ws.close();
      bob.ws.close();

      // The same link works again later: the room is made afresh from the key.
      const again = await joinTeam(b.url, room, key);
      expect(await count(a.url, room, key)).toBe(1);
      again.ws.close();
      await eventually(async () => (await count(a.url, room, key)) === 0);
    });
  });
}

describe('team rooms', () => {
  let memory: ServerHandle;
  let redis: RedisHandle;
  let r1: ServerHandle;
  let r2: ServerHandle;
  let admin: ReturnType<typeof createClient>;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, RESUME_GRACE_MS: '0' };
    [memory, r1, r2] = await Promise.all([
      startServer({ RESUME_GRACE_MS: '0' }),
      startServer(env),
      startServer(env),
    ]);
    admin = createClient({ url: redis.url });
    await admin.connect();
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await Promise.all([memory?.stop(), r1?.stop(), r2?.stop()]);
    await redis?.stop();
  });

  async function metric(url: string, name: string): Promise<number> {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ').pop()) : Number.NaN;
  }

  suite(
    'rooms in memory',
    () => [memory, memory],
    () => metric(memory.url, 'parley_rooms'),
  );
  suite(
    'rooms in Redis, two nodes',
    () => [r1, r2],
    async () => (await admin.keys('parley:room:*')).length,
  );
});
