/**
 * Several real server processes on one real Redis (REDIS_URL): calls across nodes, capacity
 * under racing joins, a node killed or drained mid-call, a slow Redis, a restarted Redis.
 */
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalFrame } from '../../server/frames.ts';
import { SignalBatcher } from '../../server/signal-batch.ts';
import { type RedisHandle, startRedis } from '../helpers/redis-process.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
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

function signal(to: string, data: unknown) {
  return { v: 1, type: 'signal', to, data };
}

/** Joins with `resume`, retrying while the node says `unavailable` (as the client does). */
async function resumeOn(url: string, room: string, peerId: string, token: string) {
  const client = await TestClient.open(url);
  client.send({ v: 1, type: 'join', room, resume: { peerId, token } });
  return { client, joined: await client.next() };
}

/** Membership news a client got since it last looked (peer-joined / peer-left). */
async function news(client: TestClient): Promise<Msg[]> {
  return (await client.drain()).filter((m) => m.type === 'peer-joined' || m.type === 'peer-left');
}

/** A counter from a node's /metrics. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  if (m === null) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

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

  it('a node killed with SIGKILL mid-setup: the client resumes on another node, the peer sees no leave, the call connects', async () => {
    const n3 = await startServer(env);
    try {
      const room = newRoom();
      const { client: a, joined: ja } = await TestClient.joined(n3.url, room);
      const { client: b, joined: jb } = await TestClient.joined(n1.url, room);
      await a.next('peer-joined');
      a.send(signal(jb.peerId, { type: 'offer' }));
      expect(await b.next('signal')).toMatchObject({ from: ja.peerId, data: { type: 'offer' } });

      await n3.stop('SIGKILL');
      await a.closed;
      const { client: a2, joined: again } = await resumeOn(n2.url, room, ja.peerId, ja.resumeToken);
      expect(again).toMatchObject({ type: 'joined', peerId: ja.peerId, peers: [jb.peerId] });
      b.send(signal(ja.peerId, { type: 'answer' }));
      expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: { type: 'answer' } });
      a2.send(signal(jb.peerId, { candidate: 'after resume' }));
      expect(await b.next('signal')).toMatchObject({ from: ja.peerId, data: { candidate: 'after resume' } });
      expect(await news(b)).toEqual([]);
      // Still a room of two: one more fits, the one after that does not.
      const { client: c } = await TestClient.joined(n1.url, room);
      const d = await TestClient.open(n2.url);
      d.send({ v: 1, type: 'join', room });
      expect(await d.next()).toMatchObject({ type: 'error', code: 'room-full' });
      for (const x of [a2, b, c, d]) x.close();
    } finally {
      await n3.stop('SIGKILL');
    }
  });

  it('signals sent to a peer while it reconnects after its node died reach it once it resumes on another node', async () => {
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    const n3 = await startServer(env);
    try {
      const room = newRoom();
      const { client: a, joined: ja } = await TestClient.joined(n3.url, room);
      const { client: b, joined: jb } = await TestClient.joined(n1.url, room);
      await a.next('peer-joined');
      const deadNode = String(await admin.hGet(`parley:room:${room}`, `m:${ja.peerId}`)).split('|')[0]!;
      await n3.stop('SIGKILL');
      await a.closed;
      // Once Redis has seen the node's connections close (on a loaded machine it may read the
      // next signal first; a signal in that moment is lost, see docs/scaling.md).
      const gone = Date.now() + 10_000;
      for (;;) {
        const numsub = (await admin.sendCommand(['PUBSUB', 'NUMSUB', `parley:nl:${deadNode}`])) as [
          string,
          number,
        ];
        if (Number(numsub[1]) === 0) break;
        if (Date.now() > gone) throw new Error("Redis still counts the killed node's live channel");
        await new Promise((r) => setTimeout(r, 20));
      }
      // Sent while a has no socket anywhere: its node is gone, b's node still routes to it.
      const before = await metric(n1.url, 'parley_messages_relayed_total');
      b.send(signal(ja.peerId, { n: 1 }));
      b.send(signal(ja.peerId, { n: 2 }));
      const end = Date.now() + 10_000;
      while ((await metric(n1.url, 'parley_messages_relayed_total')) < before + 2) {
        if (Date.now() > end) throw new Error("b's node did not send the two signals");
        await new Promise((r) => setTimeout(r, 20));
      }
      const { client: a2, joined: again } = await resumeOn(n2.url, room, ja.peerId, ja.resumeToken);
      expect(again).toMatchObject({ type: 'joined', peerId: ja.peerId, peers: [jb.peerId] });
      expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: { n: 1 } });
      expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: { n: 2 } });
      b.send(signal(ja.peerId, { n: 3 }));
      expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: { n: 3 } });
      // The new node reads the old node's queue a few times more: nothing comes twice.
      await new Promise((r) => setTimeout(r, 1000));
      b.send(signal(ja.peerId, { n: 4 }));
      expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: { n: 4 } });
      expect(await news(b)).toEqual([]);
      for (const x of [a2, b]) x.close();
    } finally {
      await n3.stop('SIGKILL');
      await admin.close();
    }
  });

  it('a node draining on SIGTERM hands its clients off: they resume elsewhere with the same ids, unnoticed', async () => {
    const n3 = await startServer(env);
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(n3.url, room);
    const { client: b, joined: jb } = await TestClient.joined(n2.url, room);
    await a.next('peer-joined');
    const exit = n3.stop('SIGTERM');
    expect(await a.next('error')).toMatchObject({ code: 'server-shutdown' });
    expect((await a.closed).code).toBe(1001);
    expect(await exit).toBe(0);
    const { client: a2, joined: again } = await resumeOn(n1.url, room, ja.peerId, ja.resumeToken);
    expect(again).toMatchObject({ type: 'joined', peerId: ja.peerId, peers: [jb.peerId] });
    b.send(signal(ja.peerId, 'still here'));
    expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: 'still here' });
    expect(await news(b)).toEqual([]);
    for (const x of [a2, b]) x.close();
  });

  it('a signal routed to the node a peer just left (a mirror behind the resume) still reaches it on its new node', async () => {
    // The race behind a rare loss after a handoff: b's node routes by its mirror of the room,
    // which names a's old node until it has read the room's resume event; a signal sent in that
    // moment goes out on the old node's channel. The test stands in for that node's lag by
    // publishing b's signal on the old node's channel itself, after the resume, as the
    // lagging node would (the batch format of server/signal-batch.ts).
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    const n3 = await startServer(env);
    try {
      const room = newRoom();
      const { client: a, joined: ja } = await TestClient.joined(n3.url, room);
      const { client: b, joined: jb } = await TestClient.joined(n2.url, room);
      await a.next('peer-joined');
      const oldNode = String(await admin.hGet(`parley:room:${room}`, `m:${ja.peerId}`)).split('|')[0]!;
      expect(await n3.stop('SIGTERM')).toBe(0);
      const { client: a2, joined: again } = await resumeOn(n1.url, room, ja.peerId, ja.resumeToken);
      expect(again).toMatchObject({ type: 'joined', peerId: ja.peerId, peers: [jb.peerId] });
      const late = [] as Buffer[];
      const batcher = new SignalBatcher({
        windowMs: 0,
        maxBytes: 64 * 1024,
        publish: (_node, parts) => late.push(Buffer.concat(parts)),
      });
      batcher.queue(oldNode, room, ja.peerId, jb.peerId, Buffer.from(signalFrame(jb.peerId, '"late"')));
      batcher.flush();
      expect(late).toHaveLength(1);
      await admin.publish(`parley:nc:${oldNode}`, late[0]!);
      expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: 'late' });
      // And the usual route once b's node has caught up.
      b.send(signal(ja.peerId, 'after'));
      expect(await a2.next('signal')).toMatchObject({ from: jb.peerId, data: 'after' });
      for (const x of [a2, b]) x.close();
    } finally {
      await n3.stop('SIGKILL');
      await admin.close();
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
