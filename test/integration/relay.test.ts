import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, PEER_A, TestClient } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer({ ROOM_CAPACITY: '2' });
});
afterAll(async () => {
  await server.stop();
});

describe('rooms and relay', () => {
  it('introduces two peers, relays a signal to the named peer only, and tells the other when one leaves', async () => {
    const room = newRoom();
    const { client: alice, joined: aliceJoined } = await TestClient.joined(server.url, room);
    expect(aliceJoined).toMatchObject({ v: 1, type: 'joined', room, peers: [], iceServers: [], capacity: 2 });
    expect(aliceJoined.peerId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(aliceJoined.resumeToken).toMatch(/^[A-Za-z0-9_-]{22,64}$/);

    const { client: bob, joined: bobJoined } = await TestClient.joined(server.url, room);
    expect(bobJoined.peers).toEqual([aliceJoined.peerId]);
    expect(bobJoined.peerId).not.toBe(aliceJoined.peerId);
    expect(await alice.next('peer-joined')).toEqual({ v: 1, type: 'peer-joined', peerId: bobJoined.peerId });

    const offer = { sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n', nested: [1, { ok: true }], text: 'héllo ✓' };
    alice.send({ v: 1, type: 'signal', to: bobJoined.peerId, data: offer });
    expect(await bob.next('signal')).toEqual({ v: 1, type: 'signal', from: aliceJoined.peerId, data: offer });
    bob.send({ v: 1, type: 'signal', to: aliceJoined.peerId, data: null });
    expect(await alice.next('signal')).toEqual({ v: 1, type: 'signal', from: bobJoined.peerId, data: null });

    bob.send({ v: 1, type: 'leave' });
    expect(await alice.next('peer-left')).toEqual({ v: 1, type: 'peer-left', peerId: bobJoined.peerId });
    // After leaving, bob's signals go nowhere.
    bob.send({ v: 1, type: 'signal', to: aliceJoined.peerId, data: 1 });
    expect(await bob.next('error')).toMatchObject({ code: 'not-joined' });

    // A closed socket counts as leaving too.
    const { client: carol, joined: carolJoined } = await TestClient.joined(server.url, room);
    expect(carolJoined.peers).toEqual([aliceJoined.peerId]);
    await alice.next('peer-joined');
    carol.close();
    expect(await alice.next('peer-left')).toMatchObject({ peerId: carolJoined.peerId });
    alice.close();
    bob.close();
  });

  it('relays data byte-for-byte in meaning, whatever the sender wrote around it', async () => {
    const room = newRoom();
    const { client: alice, joined: a } = await TestClient.joined(server.url, room);
    const { client: bob, joined: b } = await TestClient.joined(server.url, room);
    const head = `{"v":1,"type":"signal","to":"${b.peerId}","data":`;
    const cases: [string, unknown][] = [
      [`${head}{"emoji":"😀 ✓ é","n":-0.5e3}}  \n`, { emoji: '😀 ✓ é', n: -500 }],
      [`${head}"first","data":"second"}`, 'second'],
      [`${head}1,"to":"${b.peerId}"}`, 1],
      [`{"type":"signal","v":1,"data":[1,2],"to":"${b.peerId}"}`, [1, 2]],
      [`${head}"\u00e9\ud83d\ude00"}`, 'é😀'],
    ];
    for (const [text, expected] of cases) {
      alice.sendRaw(text);
      expect(await bob.next('signal')).toEqual({ v: 1, type: 'signal', from: a.peerId, data: expected });
    }
    alice.close();
    bob.close();
  });

  it('never echoes a signal to its sender, even when addressed to itself', async () => {
    const room = newRoom();
    const { client: alice, joined: a } = await TestClient.joined(server.url, room);
    const { client: bob, joined: b } = await TestClient.joined(server.url, room);
    alice.send({ v: 1, type: 'signal', to: b.peerId, data: 'for bob' });
    await bob.next('signal');
    alice.send({ v: 1, type: 'signal', to: a.peerId, data: 'to myself' });
    expect(await alice.next('error')).toMatchObject({ code: 'unknown-peer' });
    const seen = await alice.drain();
    expect(seen.filter((m) => m.type === 'signal')).toEqual([]);
    alice.close();
    bob.close();
  });

  it('keeps rooms apart: a peer in another room can be neither reached nor overheard', async () => {
    const { client: alice, joined: a } = await TestClient.joined(server.url, newRoom());
    const { client: bob, joined: b } = await TestClient.joined(server.url, newRoom());
    const { client: eve } = await TestClient.joined(server.url, newRoom());
    alice.send({ v: 1, type: 'signal', to: b.peerId, data: 'cross-room' });
    expect(await alice.next('error')).toMatchObject({ code: 'unknown-peer' });
    bob.send({ v: 1, type: 'signal', to: a.peerId, data: 'cross-room' });
    expect(await bob.next('error')).toMatchObject({ code: 'unknown-peer' });
    for (const c of [alice, bob, eve]) {
      expect((await c.drain()).filter((m) => m.type === 'signal' || m.type === 'peer-joined')).toEqual([]);
    }
    alice.send({ v: 1, type: 'signal', to: PEER_A, data: 'nobody' });
    expect(await alice.next('error')).toMatchObject({
      code: 'unknown-peer',
      message: expect.stringMatching(/\.$/),
    });
    for (const c of [alice, bob, eve]) c.close();
  });

  it('refuses a third person in a two-person room with room-full, and lets them in once someone leaves', async () => {
    const room = newRoom();
    const { client: alice } = await TestClient.joined(server.url, room);
    const { client: bob } = await TestClient.joined(server.url, room);
    const carol = await TestClient.open(server.url);
    carol.send({ v: 1, type: 'join', room });
    const full = await carol.next('error');
    expect(full).toMatchObject({ v: 1, type: 'error', code: 'room-full' });
    expect(full.message).toMatch(/full/);
    bob.close();
    await alice.next('peer-left');
    carol.send({ v: 1, type: 'join', room });
    expect((await carol.next('joined')).peers).toHaveLength(1);
    alice.close();
    carol.close();
  });

  it('refuses a second join on the same connection and answers pings', async () => {
    const { client } = await TestClient.joined(server.url, newRoom());
    client.send({ v: 1, type: 'join', room: newRoom() });
    expect(await client.next('error')).toMatchObject({ code: 'already-joined' });
    client.send({ v: 1, type: 'ping' });
    expect(await client.next()).toEqual({ v: 1, type: 'pong' });
    client.close();
  });
});

describe('rooms of several peers', () => {
  let big: ServerHandle;
  beforeAll(async () => {
    big = await startServer({ ROOM_CAPACITY: '4' });
  });
  afterAll(async () => {
    await big.stop();
  });

  it('lists everyone present, oldest first, and routes each signal to exactly one of them', async () => {
    const room = newRoom();
    const peers = [];
    for (let i = 0; i < 4; i++) peers.push(await TestClient.joined(big.url, room));
    expect(peers[3]!.joined.peers).toEqual(peers.slice(0, 3).map((p) => p.joined.peerId));
    expect(peers[0]!.joined.capacity).toBe(4);
    peers[1]!.client.send({ v: 1, type: 'signal', to: peers[3]!.joined.peerId, data: 'only you' });
    expect(await peers[3]!.client.next('signal')).toMatchObject({
      from: peers[1]!.joined.peerId,
      data: 'only you',
    });
    for (const i of [0, 1, 2]) {
      expect((await peers[i]!.client.drain()).filter((m) => m.type === 'signal')).toEqual([]);
    }
    const fifth = await TestClient.open(big.url);
    fifth.send({ v: 1, type: 'join', room });
    expect(await fifth.next('error')).toMatchObject({ code: 'room-full' });
    for (const p of peers) p.client.close();
    fifth.close();
  });
});

describe('park: an offer waiting for the next peer', () => {
  const offer = { kind: 'description', description: { type: 'offer', sdp: 'v=0\r\n' }, auth: 'mac' };

  /** The server has handled everything the client sent before (messages are handled in order). */
  async function handled(client: TestClient): Promise<void> {
    client.send({ v: 1, type: 'ping' });
    await client.next('pong');
  }

  it('goes to the next peer to join right after its joined, as a signal from the parker, once', async () => {
    const room = newRoom();
    const { client: alice, joined: a } = await TestClient.joined(server.url, room);
    expect(a.features).toContain('park');
    alice.send({ v: 1, type: 'park', data: offer });
    await handled(alice);

    const { client: bob, joined: b } = await TestClient.joined(server.url, room);
    expect(await bob.next('signal')).toEqual({ v: 1, type: 'signal', from: a.peerId, data: offer });
    expect(await alice.next('peer-joined')).toEqual({
      v: 1,
      type: 'peer-joined',
      peerId: b.peerId,
      parked: true,
    });

    // Handed over once: whoever joins after bob gets nothing parked.
    bob.send({ v: 1, type: 'leave' });
    await alice.next('peer-left');
    const { client: carol, joined: c } = await TestClient.joined(server.url, room);
    expect(await alice.next('peer-joined')).toEqual({ v: 1, type: 'peer-joined', peerId: c.peerId });
    await handled(carol);
    expect((await carol.drain()).filter((m) => m.type === 'signal')).toEqual([]);
    for (const client of [alice, bob, carol]) client.close();
  });

  it('can be taken back, and goes nowhere once its peer has left', async () => {
    const room = newRoom();
    const { client: alice } = await TestClient.joined(server.url, room);
    alice.send({ v: 1, type: 'park', data: offer });
    alice.send({ v: 1, type: 'park', data: null });
    await handled(alice);
    const { client: bob, joined: b } = await TestClient.joined(server.url, room);
    expect(await alice.next('peer-joined')).toEqual({ v: 1, type: 'peer-joined', peerId: b.peerId });
    await handled(bob);
    expect((await bob.drain()).filter((m) => m.type === 'signal')).toEqual([]);
    bob.close();

    // Parked, then the parker leaves: the next joiner finds an empty room and nothing parked.
    alice.send({ v: 1, type: 'park', data: offer });
    alice.send({ v: 1, type: 'leave' });
    await handled(alice);
    const { client: carol, joined: c } = await TestClient.joined(server.url, room);
    expect(c.peers).toEqual([]);
    await handled(carol);
    expect((await carol.drain()).filter((m) => m.type === 'signal')).toEqual([]);
    alice.close();
    carol.close();
  });

  it('is refused before joining and when malformed, and the socket keeps working', async () => {
    const client = await TestClient.open(server.url);
    client.send({ v: 1, type: 'park', data: offer });
    expect(await client.next('error')).toMatchObject({ code: 'not-joined' });
    client.send({ v: 1, type: 'join', room: newRoom() });
    await client.next('joined');
    client.send({ v: 1, type: 'park', data: offer, to: PEER_A });
    expect(await client.next('error')).toMatchObject({ code: 'bad-message' });
    await handled(client);
    client.close();
  });
});
