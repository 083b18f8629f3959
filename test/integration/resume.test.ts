import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer({ RESUME_GRACE_MS: '1500' });
});
afterAll(async () => {
  await server.stop();
});

function resumeJoin(room: string, peerId: string, token: string) {
  return { v: 1, type: 'join', room, resume: { peerId, token } };
}

describe('resume: a client that reconnects keeps its peer id', () => {
  it('replaces a still-open socket seamlessly: the old one is closed with 4010, the other peer notices nothing', async () => {
    const room = newRoom();
    const { client: worker, joined: first } = await TestClient.joined(server.url, room);
    const { client: peer, joined: jp } = await TestClient.joined(server.url, room);
    await worker.next('peer-joined');

    // e.g. the extension's service worker restarted while its old socket still looked open.
    const fresh = await TestClient.open(server.url);
    fresh.send(resumeJoin(room, first.peerId, first.resumeToken));
    const again = await fresh.next('joined');
    expect(again.peerId).toBe(first.peerId);
    expect(again.peers).toEqual([jp.peerId]);
    expect(again.resumeToken).not.toBe(first.resumeToken);
    expect((await worker.closed).code).toBe(4010);

    expect((await peer.drain()).filter((m) => m.type === 'peer-left' || m.type === 'peer-joined')).toEqual(
      [],
    );
    peer.send({ v: 1, type: 'signal', to: first.peerId, data: 'still there?' });
    expect(await fresh.next('signal')).toMatchObject({ from: jp.peerId, data: 'still there?' });

    // The token is single-use: the old one no longer claims the peer id. The room has places
    // (ROOM_CAPACITY 6), so its bearer joins as a new person under a new id, and the peer
    // sees a newcomer, not the resumed one.
    const thief = await TestClient.open(server.url);
    thief.send(resumeJoin(room, first.peerId, first.resumeToken));
    const thiefJoined = await thief.next('joined');
    expect(thiefJoined.peerId).not.toBe(first.peerId);
    expect(await peer.next('peer-joined')).toMatchObject({ peerId: thiefJoined.peerId });
    for (const c of [fresh, peer, thief]) c.close();
  });

  it('reclaims the peer id after the socket died: the room sees it leave and come back with the same id', async () => {
    const room = newRoom();
    const { client: lost, joined: first } = await TestClient.joined(server.url, room);
    const { client: peer } = await TestClient.joined(server.url, room);
    lost.ws.terminate();
    expect(await peer.next('peer-left')).toMatchObject({ peerId: first.peerId });

    const back = await TestClient.open(server.url);
    back.send(resumeJoin(room, first.peerId, first.resumeToken));
    expect((await back.next('joined')).peerId).toBe(first.peerId);
    expect(await peer.next('peer-joined')).toMatchObject({ peerId: first.peerId });
    back.close();
    peer.close();
  });

  it('gives a new peer id for a wrong token, after an explicit leave, and once the grace period is over', async () => {
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(server.url, room);
    const { client: b, joined: jb } = await TestClient.joined(server.url, room);
    b.ws.terminate();
    await a.next('peer-left');

    const guess = await TestClient.open(server.url);
    guess.send(resumeJoin(room, jb.peerId, ja.resumeToken));
    const guessed = await guess.next('joined');
    expect(guessed.peerId).not.toBe(jb.peerId);
    guess.close();
    await a.next('peer-left');

    a.send({ v: 1, type: 'leave' });
    const rejoin = await TestClient.open(server.url);
    rejoin.send(resumeJoin(room, ja.peerId, ja.resumeToken));
    expect((await rejoin.next('joined')).peerId).not.toBe(ja.peerId);

    // jb's id was reclaimable for 1.5 s; after that it is gone for good.
    await new Promise((r) => setTimeout(r, 1800));
    const late = await TestClient.open(server.url);
    late.send(resumeJoin(room, jb.peerId, jb.resumeToken));
    expect((await late.next('joined')).peerId).not.toBe(jb.peerId);
    for (const c of [a, rejoin, late]) c.close();
  });
});
