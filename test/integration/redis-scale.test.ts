/**
 * Several real server processes on one real Redis (REDIS_URL): calls across nodes, capacity
 * under racing joins, a slow Redis, a restarted Redis. (Nodes dying, draining and losing
 * Redis under their members: redis-handoff.test.ts.)
 */
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisHandle, startRedis } from '../helpers/redis-process.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { metric, signal } from './redis-nodes.ts';
import { type Msg, newRoom, TestClient } from './ws-client.ts';

const CAPACITY = 3;
let redis: RedisHandle;
let env: Record<string, string>;
let n1: ServerHandle;
let n2: ServerHandle;

beforeAll(async () => {
  redis = await startRedis();
  env = {
    REDIS_URL: redis.url,
    ROOM_CAPACITY: String(CAPACITY),
    RESUME_GRACE_MS: '20000',
    REDIS_TIMEOUT_MS: '1000',
    SHUTDOWN_GRACE_MS: '1000',
    // The order test sends a few hundred messages at once.
    RATE_LIMIT_BURST: '1000',
  };
  [n1, n2] = await Promise.all([startServer(env), startServer(env)]);
}, 120_000);

afterAll(async () => {
  await Promise.all([n1?.stop(), n2?.stop()]);
  await redis?.stop();
});

describe('several nodes on one Redis', () => {
  it('a call between peers on different nodes: parked offer, both directions in order, leave', async () => {
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(n1.url, room);
    a.send({ v: 1, type: 'park', data: { type: 'offer', sdp: 'v=0 parked' } });
    await a.drain();
    const b = await TestClient.open(n2.url);
    b.send({ v: 1, type: 'join', room });
    const jb = await b.next();
    expect(jb).toMatchObject({ type: 'joined', peers: [ja.peerId], capacity: CAPACITY });
    // The parked offer comes right after `joined`, from the other node.
    expect(await b.next()).toEqual({
      v: 1,
      type: 'signal',
      from: ja.peerId,
      data: { type: 'offer', sdp: 'v=0 parked' },
    });
    expect(await a.next('peer-joined')).toEqual({
      v: 1,
      type: 'peer-joined',
      peerId: jb.peerId,
      parked: true,
    });

    const N = 300;
    for (let i = 0; i < N; i++) {
      a.send(signal(jb.peerId, { n: i, pad: 'ü'.repeat(i % 7) }));
      b.send(signal(ja.peerId, { n: i }));
    }
    const atB: number[] = [];
    const atA: number[] = [];
    while (atB.length < N) atB.push((await b.next('signal')).data.n);
    while (atA.length < N) atA.push((await a.next('signal')).data.n);
    const inOrder = [...Array(N).keys()];
    expect(atB).toEqual(inOrder);
    expect(atA).toEqual(inOrder);

    b.send({ v: 1, type: 'leave' });
    expect(await a.next('peer-left')).toEqual({ v: 1, type: 'peer-left', peerId: jb.peerId });
    a.send(signal(jb.peerId, 'gone?'));
    expect(await a.next('error')).toMatchObject({ code: 'unknown-peer' });
    for (const c of [a, b]) c.close();
  });

  it("a signal sent just before its sender leaves never reaches the other node after that peer's peer-left", async () => {
    // The sender's node sends signals and leaves to Redis on two connections. Ten rounds:
    // Ana (node 1) parks a message, signals Ben (node 2) and leaves, in one TCP write (so her
    // node reads the three in one turn, and the park has Redis commands already waiting to
    // go out when the signal is queued); once Ben has seen her leave, Cleo (node 1) signals
    // him a marker, which comes on the same channel after anything of Ana's still under way.
    for (let round = 0; round < 10; round++) {
      const room = newRoom();
      const { client: ben, joined: jb } = await TestClient.joined(n2.url, room);
      const { client: ana, joined: ja } = await TestClient.joined(n1.url, room);
      const { client: cleo } = await TestClient.joined(n1.url, room);
      await ben.next('peer-joined');
      await ben.next('peer-joined');
      await ana.drain();
      const socket = (ana.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
      socket.cork();
      ana.send({ v: 1, type: 'park', data: { round } });
      ana.send(signal(jb.peerId, { last: round }));
      ana.send({ v: 1, type: 'leave' });
      socket.uncork();
      await ben.next('peer-left');
      cleo.send(signal(jb.peerId, 'marker'));
      await ben.next('signal');
      const seen = ben.received.filter((m) => m.type === 'peer-left' || m.type === 'signal');
      const left = seen.findIndex((m) => m.type === 'peer-left' && m.peerId === ja.peerId);
      expect(seen.slice(left + 1).filter((m) => m.from === ja.peerId)).toEqual([]);
      for (const c of [ana, ben, cleo]) c.close();
    }
  });

  it(`holds the room capacity (${CAPACITY}) when joins race on two nodes`, async () => {
    for (let round = 0; round < 3; round++) {
      const room = newRoom();
      const clients = await Promise.all(
        Array.from({ length: 8 }, (_, i) => TestClient.open(i % 2 === 0 ? n1.url : n2.url)),
      );
      for (const c of clients) c.send({ v: 1, type: 'join', room });
      const replies = await Promise.all(clients.map((c) => c.next()));
      const joined = replies.filter((r) => r.type === 'joined');
      expect(joined).toHaveLength(CAPACITY);
      expect(replies.filter((r) => r.type === 'error' && r.code === 'room-full')).toHaveLength(8 - CAPACITY);
      // Everyone in agrees on who is in.
      const ids = new Set(joined.map((j) => j.peerId));
      expect(ids.size).toBe(CAPACITY);
      for (const c of clients) c.close();
    }
  });

  it('a slow Redis (DEBUG SLEEP) does not block the nodes: livez answers, a join meanwhile is told to retry', async () => {
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    const sleeping = admin.sendCommand(['DEBUG', 'SLEEP', '3']);
    let slept = false;
    void sleeping.then(() => {
      slept = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    for (const n of [n1, n2]) expect((await fetch(`${n.url}/livez`)).status).toBe(200);
    const c = await TestClient.open(n1.url);
    c.send({ v: 1, type: 'join', room: newRoom() });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'unavailable' });
    expect((await c.closed).code).toBe(1013);
    expect(slept).toBe(false);
    await sleeping;
    await admin.close();
    const { joined } = await TestClient.joined(n1.url, newRoom());
    expect(joined.type).toBe('joined');
  });

  it('Redis restarted mid-call: the call goes on, joins fail clearly while it is down and work again within 5 s', async () => {
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(n1.url, room);
    const { client: b, joined: jb } = await TestClient.joined(n2.url, room);
    await a.next('peer-joined');

    await redis.stop();
    const refused = await TestClient.open(n1.url);
    refused.send({ v: 1, type: 'join', room: newRoom() });
    expect(await refused.next()).toMatchObject({ type: 'error', code: 'unavailable' });
    expect((await refused.closed).code).toBe(1013);
    // The sockets of the call stay open (media never touched the server anyway).
    expect(a.ws.readyState).toBe(a.ws.OPEN);
    // A signal for the other node is dropped meanwhile, and /metrics says so: dropped, not
    // relayed (once the node's publish connection has noticed the outage).
    const dropped = () => metric(n1.url, 'parley_messages_dropped_total');
    const relayed = () => metric(n1.url, 'parley_messages_relayed_total');
    const droppedBefore = await dropped();
    for (let i = 0; i < 50 && (await dropped()) === droppedBefore; i++) {
      a.send(signal(jb.peerId, 'while away'));
      await a.drain();
    }
    const [droppedThen, relayedThen] = [await dropped(), await relayed()];
    expect(droppedThen).toBeGreaterThan(droppedBefore);
    for (let i = 0; i < 3; i++) a.send(signal(jb.peerId, { away: i }));
    await a.drain();
    expect(await dropped()).toBe(droppedThen + 3);
    expect(await relayed()).toBe(relayedThen);

    await redis.start();
    const back = Date.now();
    let joinedAgain: Msg | null = null;
    while (joinedAgain === null && Date.now() - back < 5000) {
      const c = await TestClient.open(n2.url);
      c.send({ v: 1, type: 'join', room: newRoom() });
      const reply = await c.next();
      c.close();
      if (reply.type === 'joined') joinedAgain = reply;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(joinedAgain).not.toBeNull();

    // Both members were re-asserted into the empty Redis: relay across nodes works again and
    // the room is still full after one more.
    let got: Msg | null = null;
    // The subscriber connection resubscribes on its own after reconnecting; give it 10 s.
    for (let i = 0; i < 40 && got === null; i++) {
      a.send(signal(jb.peerId, { i }));
      got = await b.next('signal', 250).catch(() => null);
    }
    expect(got).toMatchObject({ from: ja.peerId });
    const { client: c } = await TestClient.joined(n2.url, room);
    const d = await TestClient.open(n1.url);
    d.send({ v: 1, type: 'join', room });
    expect(await d.next()).toMatchObject({ type: 'error', code: 'room-full' });
    for (const x of [a, b, c, d]) x.close();
  });
});
