/**
 * The one signaling client (src/call/signaling-client.ts + room-signaling.ts), the code the
 * guest page and the extension's service worker both run, against the real server process,
 * over real sockets (the `ws` package in place of the browser's WebSocket).
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RoomSignaling } from '../../src/call/room-signaling.ts';
import type { JoinedInfo } from '../../src/call/signaling.ts';
import { SignalingClient, type WebSocketLike } from '../../src/call/signaling-client.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer({ RESUME_GRACE_MS: '5000' });
});
afterAll(async () => {
  await server.stop();
});

/** A room client whose sockets the test can reach (to cut one, as a network loss would). */
function roomClient(options: ConstructorParameters<typeof RoomSignaling>[1] = {}) {
  const sockets: WebSocket[] = [];
  const client = new SignalingClient({
    server: server.url,
    connect: (url) => {
      const ws = new WebSocket(url);
      sockets.push(ws);
      return ws as unknown as WebSocketLike;
    },
    backoff: { initialMs: 50 },
  });
  const room = new RoomSignaling(client, options);
  const errors: string[] = [];
  room.on('error', (code) => errors.push(code));
  const joins: JoinedInfo[] = [];
  room.on('joined', (info) => joins.push(info));
  return { room, sockets, errors, joins };
}

function nextJoined(room: RoomSignaling): Promise<JoinedInfo> {
  return new Promise((resolve) => {
    const off = room.on('joined', (info) => {
      off();
      resolve(info);
    });
  });
}

describe('the signaling client against the real server', () => {
  it('comes back as the same peer after its socket is cut, and signals flow again both ways', async () => {
    const roomId = newRoom();
    const ana = roomClient();
    const first = await ana.room.join(roomId);
    const { client: bo, joined: boJoined } = await TestClient.joined(server.url, roomId);
    await bo.drain();

    const back = nextJoined(ana.room);
    ana.sockets[0]?.terminate();
    expect((await back).peerId).toBe(first.peerId);
    expect(ana.sockets).toHaveLength(2);
    expect(ana.errors).toEqual([]);

    const heard = new Promise((resolve) => ana.room.on('signal', (from, data) => resolve([from, data])));
    bo.send({ v: 1, type: 'signal', to: first.peerId, data: 'still there?' });
    expect(await heard).toEqual([boJoined.peerId, 'still there?']);
    ana.room.send(boJoined.peerId, 'yes');
    expect(await bo.next('signal')).toMatchObject({ from: first.peerId, data: 'yes' });
    ana.room.leave();
    bo.close();
  });

  it('stops for good when a newer connection resumes its peer id (replaced), instead of taking it back', async () => {
    const roomId = newRoom();
    const ana = roomClient();
    await ana.room.join(roomId);
    const ticket = ana.room.resumeTicket!;
    const newer = await TestClient.open(server.url);
    newer.send({ v: 1, type: 'join', room: roomId, resume: ticket });
    expect((await newer.next('joined')).peerId).toBe(ticket.peerId);
    await once(ana.sockets[0]!, 'close');
    expect(ana.errors).toEqual(['replaced']);
    expect(ana.room.status).toBe('closed');
    // Had it reconnected (50 ms backoff), it would have resumed and closed `newer` with 4010.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(ana.sockets).toHaveLength(1);
    expect(await newer.drain()).toEqual([]);
    newer.close();
  });

  it('drops a stored ticket the server cannot read and joins afresh; an expired one gets a fresh id too', async () => {
    const roomId = newRoom();
    const { client: bo, joined: boJoined } = await TestClient.joined(server.url, roomId);
    const stale = roomClient({ resume: { peerId: 'AAAAAAAAAAAAAAAAAAAAAA', token: 'old-format' } });
    const info = await stale.room.join(roomId);
    expect(info.peerId).not.toBe('AAAAAAAAAAAAAAAAAAAAAA');
    expect(info.peers).toEqual([boJoined.peerId]);
    expect(stale.errors).toEqual([]);
    expect(stale.sockets).toHaveLength(1);

    const expired = roomClient({ resume: { peerId: 'BBBBBBBBBBBBBBBBBBBBBB', token: 'C'.repeat(22) } });
    const info2 = await expired.room.join(newRoom());
    expect(info2.peerId).not.toBe('BBBBBBBBBBBBBBBBBBBBBB');
    expect(expired.errors).toEqual([]);
    for (const c of [stale, expired]) c.room.leave();
    bo.close();
  });
});
