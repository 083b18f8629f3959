/**
 * The relay's publish-only connection (server/redis-publisher.ts) against a real redis-server:
 * batches arrive in order, nothing published before close is lost, and it comes back by
 * itself after Redis restarts.
 */
import { createClient, RESP_TYPES } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../server/log.ts';
import { connectPublisher, type RedisPublisher } from '../../server/redis-publisher.ts';
import { RELAY_SCRIPT, TAKE_SCRIPT } from '../../server/redis-scripts.ts';
import { decodeBatch, SignalBatcher } from '../../server/signal-batch.ts';
import { type RedisHandle, startRedis } from '../helpers/redis-process.ts';

let redis: RedisHandle;

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);

afterAll(async () => {
  await redis?.stop();
});

/** A subscriber on `channel` that keeps every message (as text). */
async function listen(channel: string, url = redis.url) {
  const sub = createClient({ url });
  sub.on('error', () => {});
  await sub.connect();
  const got: string[] = [];
  await sub.subscribe(channel, (m) => got.push(m));
  return { got, close: () => sub.close() };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const publish = (p: RedisPublisher, channel: string, text: string) => {
  const parts = [Buffer.from(text.slice(0, 3)), Buffer.from(text.slice(3))];
  return p.publish(channel, parts, Buffer.byteLength(text));
};

describe('redis publisher', () => {
  it('delivers batches in order, byte-exact, and loses none published just before close', async () => {
    const channel = 'pub-test:order';
    const sub = await listen(channel);
    const p = connectPublisher(redis.url, createLogger('silent'));
    await until('the publisher to connect', () => p.ready);
    const sentTexts = Array.from({ length: 300 }, (_, i) => `batch ${i} ✓ ${'x'.repeat(i * 7)}`);
    for (const t of sentTexts) expect(publish(p, channel, t)).toBe(true);
    await p.close();
    expect(p.ready).toBe(false);
    expect(publish(p, channel, 'after close')).toBe(false);
    await until('every batch', () => sub.got.length >= sentTexts.length);
    expect(sub.got).toEqual(sentTexts);
    await sub.close();
  });

  it('drops while Redis is away and publishes again by itself once it is back', async () => {
    const channel = 'pub-test:restart';
    const p = connectPublisher(redis.url, createLogger('silent'));
    await until('the publisher to connect', () => p.ready);
    await redis.stop();
    await until('the publisher to notice', () => !p.ready);
    expect(publish(p, channel, 'lost')).toBe(false);
    await redis.start();
    const sub = await listen(channel);
    await until('the publisher to reconnect', () => p.ready, 5000);
    expect(publish(p, channel, 'back')).toBe(true);
    await until('the message after the restart', () => sub.got.length > 0);
    expect(sub.got).toEqual(['back']);
    await p.close();
    await sub.close();
  });

  it("the relay's script: published while the node holds its live channel and beats, else each record kept in its receiver's queue, which a take empties", async () => {
    const keys = ['pub-test:nc:n1', 'pub-test:nl:n1', 'pub-test:nqb:n1', 'pub-test:nodes'];
    const room = 'R'.repeat(22);
    const [ana, ben, cleo] = ['A', 'B', 'C'].map((c) => c.repeat(22)) as [string, string, string];
    // Loaded on connect and run by its SHA.
    const p = connectPublisher(redis.url, createLogger('silent'), [RELAY_SCRIPT]);
    await until('the publisher to connect', () => p.ready);
    const client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    const admin = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    /** One batch of records (to, frame), from Cleo, as a node sends it (signal-batch.ts). */
    const relay = (records: [string, string][], maxBytes = 1000, oldestBeat = 0) => {
      const batches: Buffer[][] = [];
      const batcher = new SignalBatcher({
        windowMs: 0,
        maxBytes: 1 << 20,
        publish: (_n, parts) => batches.push([...parts]),
      });
      for (const [to, frame] of records) batcher.queue('n1', room, to, cleo, Buffer.from(frame));
      batcher.flush();
      const parts = batches[0]!;
      const bytes = parts.reduce((n, b) => n + b.length, 0);
      const args = ['60000', String(maxBytes), 'pub-test:mq:', 'n1', String(oldestBeat)];
      return p.evalWith(RELAY_SCRIPT, keys, parts, bytes, args);
    };
    const frames = async (key: string) => {
      const out: string[] = [];
      for (const record of (await admin.lRange(key, 0, -1)) as unknown as Buffer[]) {
        decodeBatch(record, (to, from, r, frame) => out.push(`${to[0]}<${from[0]}@${r[0]}:${frame}`));
      }
      return out;
    };
    const anaQueue = `pub-test:mq:${room}:${ana}`;
    const benQueue = `pub-test:mq:${room}:${ben}`;
    // Nobody holds the live channel (the node is gone): kept per receiver, up to 1000 bytes.
    const sub = await listen(keys[0]!);
    expect(
      relay([
        [ana, 'kept ✓ 1'],
        [ben, 'for ben'],
        [ana, 'kept 2'],
      ]),
    ).toBe(true);
    expect(relay([[ana, 'x'.repeat(1000)]])).toBe(true); // past the size limit: not kept
    await until('the queues', async () => (await admin.lLen(anaQueue)) === 2);
    expect(await frames(anaQueue)).toEqual(['A<C@R:kept ✓ 1', 'A<C@R:kept 2']);
    expect(await frames(benQueue)).toEqual(['B<C@R:for ben']);
    const ttl = await admin.pTTL(anaQueue);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // The node is live again: published, not kept.
    const live = await listen(keys[1]!);
    expect(relay([[ana, 'published']], 1 << 20)).toBe(true);
    await until('the published batch', () => sub.got.length > 0);
    expect(sub.got).toHaveLength(1);
    expect(sub.got[0]).toContain('published');
    expect(await admin.lLen(anaQueue)).toBe(2);
    // Its heartbeat (ms) is older than the sender's cutoff: taken for gone although it still
    // holds its channel (a node that vanished without its connections closing). Then fresh again.
    await client.zAdd(keys[3]!, { score: 1000, value: 'n1' });
    expect(relay([[ana, 'kept 3']], 1 << 20, 1001)).toBe(true);
    await until('the third record', async () => (await admin.lLen(anaQueue)) === 3);
    expect(relay([[ana, 'published again']], 1 << 20, 1000)).toBe(true);
    await until('the second published batch', () => sub.got.length > 1);
    expect(sub.got[1]).toContain('published again');
    expect(await admin.lLen(anaQueue)).toBe(3);
    // A take returns both members' records, each in order, and empties their queues.
    const taken = (await admin.sendCommand(['EVAL', TAKE_SCRIPT, '2', anaQueue, benQueue])) as Buffer[];
    const takenFrames: string[] = [];
    for (const record of taken) decodeBatch(record, (_t, _f, _r, frame) => takenFrames.push(String(frame)));
    expect(takenFrames).toEqual(['kept ✓ 1', 'kept 2', 'kept 3', 'for ben']);
    expect(await admin.exists([anaQueue, benQueue])).toBe(0);
    expect(await admin.sendCommand(['EVAL', TAKE_SCRIPT, '1', anaQueue])).toEqual([]);
    await Promise.all([p.close(), sub.close(), live.close(), client.close()]);
  });

  it('authenticates with the password in REDIS_URL, and stays down with a wrong one', async () => {
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    await admin.sendCommand(['CONFIG', 'SET', 'requirepass', 'pw-ok']);
    await admin.close();
    const withPassword = `redis://:pw-ok@127.0.0.1:${redis.port}`;
    const channel = 'pub-test:auth';
    const sub = await listen(channel, withPassword);
    const wrong = connectPublisher(`redis://:pw-wrong@127.0.0.1:${redis.port}`, createLogger('silent'));
    const right = connectPublisher(withPassword, createLogger('silent'));
    await until('the publisher with the right password', () => right.ready);
    expect(publish(right, channel, 'authenticated')).toBe(true);
    await until('its message', () => sub.got.length > 0);
    expect(sub.got).toEqual(['authenticated']);
    expect(wrong.ready).toBe(false);
    expect(publish(wrong, channel, 'refused')).toBe(false);
    await Promise.all([right.close(), wrong.close(), sub.close()]);
  });
});
