import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FakeWebSocket, fakeConnect } from '../../test/helpers/fake-websocket.ts';
import { RoomSignaling } from './room-signaling.ts';
import { SignalingClient } from './signaling-client.ts';

const ROOM = 'RRRRRRRRRRRRRRRRRRRRRR';
const ME = 'MMMMMMMMMMMMMMMMMMMMMM';
const NEW_ME = 'NNNNNNNNNNNNNNNNNNNNNN';
const OTHER = 'OOOOOOOOOOOOOOOOOOOOOO';
const THIRD = 'TTTTTTTTTTTTTTTTTTTTT3';
const TOKEN = 'TTTTTTTTTTTTTTTTTTTTTT';
const TOKEN2 = 'UUUUUUUUUUUUUUUUUUUUUU';

function joined(peers: string[] = [], extra: Record<string, unknown> = {}) {
  return {
    v: 1,
    type: 'joined',
    room: ROOM,
    peerId: ME,
    resumeToken: TOKEN,
    peers,
    iceServers: [],
    capacity: 2,
    ...extra,
  };
}

describe('RoomSignaling: a room on the one signaling client', () => {
  let sockets: FakeWebSocket[];
  let client: SignalingClient;
  let signaling: RoomSignaling;

  beforeEach(() => {
    vi.useFakeTimers();
    const fake = fakeConnect();
    sockets = fake.sockets;
    client = new SignalingClient({
      server: 'http://127.0.0.1:8787',
      connect: fake.connect,
      backoff: { random: () => 0.999999 },
    });
    signaling = new RoomSignaling(client);
  });
  afterEach(() => {
    signaling.leave();
    vi.useRealTimers();
  });

  async function joinedRoom(peers: string[] = [OTHER]) {
    const p = signaling.join(ROOM);
    sockets.at(-1)?.open();
    sockets.at(-1)?.receive(joined(peers));
    return p;
  }

  it('preconnects without joining, then joins over the open socket with one message', async () => {
    signaling.preconnect();
    expect(sockets).toHaveLength(1);
    sockets[0]?.open();
    expect(sockets[0]?.sent).toEqual([]);
    const p = signaling.join(ROOM);
    expect(sockets).toHaveLength(1);
    expect(sockets[0]?.sent[0]).toEqual({ v: 1, type: 'join', room: ROOM });
    sockets[0]?.receive(joined([OTHER]));
    await expect(p).resolves.toMatchObject({ peerId: ME, peers: [OTHER] });
  });

  it('joins as soon as a preconnect still in progress opens', async () => {
    signaling.preconnect();
    const p = signaling.join(ROOM);
    expect(sockets).toHaveLength(1);
    sockets[0]?.open();
    expect(sockets[0]?.sent[0]).toEqual({ v: 1, type: 'join', room: ROOM });
    sockets[0]?.receive(joined());
    await expect(p).resolves.toMatchObject({ peerId: ME });
  });

  it('lets a preconnected socket that drops go quietly, and opens a new one to join', async () => {
    const errors: string[] = [];
    signaling.on('error', (code) => errors.push(code));
    signaling.preconnect();
    sockets[0]?.open();
    sockets[0]?.drop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sockets).toHaveLength(1);
    expect(errors).toEqual([]);
    const p = signaling.join(ROOM);
    expect(sockets).toHaveLength(2);
    sockets[1]?.open();
    expect(sockets[1]?.sent[0]).toEqual({ v: 1, type: 'join', room: ROOM });
    sockets[1]?.receive(joined());
    await expect(p).resolves.toMatchObject({ peerId: ME });
  });

  it('turns joined into the room info once, and gives it back later with the peers as they are now', async () => {
    const infos: unknown[] = [];
    signaling.on('joined', (info) => infos.push(info));
    const p = signaling.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive(joined([OTHER], { features: ['park'] }));
    const info = await p;
    expect(info).toEqual({
      room: ROOM,
      peerId: ME,
      peers: [OTHER],
      iceServers: [],
      capacity: 2,
      canPark: true,
    });
    expect(infos).toEqual([info]);
    sockets[0]?.receive({ v: 1, type: 'peer-joined', peerId: THIRD });
    sockets[0]?.receive({ v: 1, type: 'peer-left', peerId: OTHER });
    expect(signaling.joinedInfo).toEqual({ ...info, peers: [THIRD] });
    expect([...signaling.peers]).toEqual([THIRD]);
    expect(signaling.resumeTicket).toEqual({ peerId: ME, token: TOKEN });
  });

  it('reconnects after a drop with resume, so the peer id stays the same', async () => {
    const onJoined = vi.fn();
    signaling.on('joined', onJoined);
    const statuses: string[] = [];
    signaling.on('status', (s) => statuses.push(s));
    await joinedRoom();
    sockets[0]?.drop();
    expect(statuses).toEqual(['connecting', 'open', 'reconnecting']);
    expect(signaling.joinedInfo).toBeNull();
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(2);
    sockets[1]?.open();
    expect(sockets[1]?.sent[0]).toEqual({
      v: 1,
      type: 'join',
      room: ROOM,
      resume: { peerId: ME, token: TOKEN },
    });
    sockets[1]?.receive(joined([OTHER]));
    expect(onJoined).toHaveBeenCalledTimes(2);
    expect(statuses.at(-1)).toBe('open');
  });

  it('rejoins with a ticket kept from before (a restarted service worker) and says it is reconnecting', async () => {
    const kept = new RoomSignaling(client, { resume: { peerId: ME, token: TOKEN } });
    const statuses: string[] = [];
    kept.on('status', (s) => statuses.push(s));
    const p = kept.join(ROOM);
    sockets[0]?.open();
    expect(sockets[0]?.sent[0]).toEqual({
      v: 1,
      type: 'join',
      room: ROOM,
      resume: { peerId: ME, token: TOKEN },
    });
    sockets[0]?.receive(joined([OTHER]));
    await expect(p).resolves.toMatchObject({ peerId: ME });
    expect(statuses).toEqual(['reconnecting', 'open']);
    kept.leave();
  });

  it('a reloaded page with the ticket of its previous page: joined says rejoin, once, if the place was kept', async () => {
    const back = new RoomSignaling(client, { resume: { peerId: ME, token: TOKEN }, rejoin: true });
    const statuses: string[] = [];
    const infos: unknown[] = [];
    back.on('status', (s) => statuses.push(s));
    back.on('joined', (info) => infos.push(info));
    const p = back.join(ROOM);
    sockets[0]?.open();
    expect(sockets[0]?.sent[0]).toEqual({
      v: 1,
      type: 'join',
      room: ROOM,
      resume: { peerId: ME, token: TOKEN },
    });
    sockets[0]?.receive(joined([OTHER], { resumeToken: TOKEN2 }));
    await expect(p).resolves.toMatchObject({ peerId: ME, rejoin: true });
    expect(statuses).toEqual(['connecting', 'open']);
    // A later reconnect of this page is an ordinary resume.
    sockets[0]?.drop();
    vi.advanceTimersByTime(500);
    sockets[1]?.open();
    expect(sockets[1]?.sent[0]).toMatchObject({ resume: { peerId: ME, token: TOKEN2 } });
    sockets[1]?.receive(joined([OTHER]));
    expect(infos).toHaveLength(2);
    expect(infos[1]).not.toHaveProperty('rejoin');
    back.leave();
  });

  it('a reloaded page whose place is gone (the server joined it afresh) is a newcomer', async () => {
    const late = new RoomSignaling(client, { resume: { peerId: ME, token: TOKEN }, rejoin: true });
    const p = late.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive({ ...joined([OTHER]), peerId: NEW_ME, resumeToken: TOKEN2 });
    const info = await p;
    expect(info.peerId).toBe(NEW_ME);
    expect(info).not.toHaveProperty('rejoin');
    late.leave();
  });

  it('drops a stale resume ticket the server rejects and joins afresh on the same socket', async () => {
    const errors: string[] = [];
    const kept = new RoomSignaling(client, { resume: { peerId: ME, token: 'from-an-older-version' } });
    kept.on('error', (code) => errors.push(code));
    const p = kept.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive({ v: 1, type: 'error', code: 'bad-message', message: 'Invalid "join" message' });
    expect(sockets).toHaveLength(1);
    expect(sockets[0]?.sent).toEqual([
      { v: 1, type: 'join', room: ROOM, resume: { peerId: ME, token: 'from-an-older-version' } },
      { v: 1, type: 'join', room: ROOM },
    ]);
    sockets[0]?.receive({ ...joined([OTHER]), peerId: NEW_ME, resumeToken: TOKEN2 });
    await expect(p).resolves.toMatchObject({ peerId: NEW_ME });
    expect(kept.resumeTicket).toEqual({ peerId: NEW_ME, token: TOKEN2 });
    expect(errors).toEqual([]);
    // A bad-message once joined is about something else: reported, ticket kept.
    sockets[0]?.receive({ v: 1, type: 'error', code: 'bad-message', message: 'Invalid "signal" message' });
    expect(errors).toEqual(['bad-message']);
    expect(kept.resumeTicket).toEqual({ peerId: NEW_ME, token: TOKEN2 });
    kept.leave();
  });

  it('takes a socket closed as replaced (our peer id resumed elsewhere) as final: reports it, never reconnects', async () => {
    const errors: string[] = [];
    signaling.on('error', (code) => errors.push(code));
    await joinedRoom();
    sockets[0]?.drop(4010);
    expect(errors).toEqual(['replaced']);
    expect(signaling.status).toBe('closed');
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('says once that the server cannot be reached while it never joined', async () => {
    const errors: string[] = [];
    signaling.on('error', (code) => errors.push(code));
    void signaling.join(ROOM);
    sockets[0]?.drop();
    vi.advanceTimersByTime(500);
    sockets[1]?.drop();
    expect(errors).toEqual(['unreachable']);
    vi.advanceTimersByTime(1000);
    sockets[2]?.open();
    sockets[2]?.receive(joined());
    expect(signaling.isJoined).toBe(true);
  });

  it('queues signals while reconnecting and sends them after the re-join', async () => {
    await joinedRoom();
    sockets[0]?.drop();
    signaling.send(OTHER, { kind: 'bye' });
    vi.advanceTimersByTime(500);
    sockets[1]?.open();
    expect(sockets[1]?.sent).toHaveLength(1);
    sockets[1]?.receive(joined([OTHER]));
    expect(sockets[1]?.sent[1]).toEqual({ v: 1, type: 'signal', to: OTHER, data: { kind: 'bye' } });
  });

  it('parks only while joined', async () => {
    signaling.park({ offer: 1 });
    await joinedRoom([]);
    signaling.park({ offer: 2 });
    expect(sockets[0]?.sent.filter((m) => m.type === 'park')).toEqual([
      { v: 1, type: 'park', data: { offer: 2 } },
    ]);
  });

  it('keeps the worker alive: a ping every 20 s while in the room', async () => {
    await joinedRoom();
    vi.advanceTimersByTime(20_000);
    sockets[0]?.receive({ v: 1, type: 'pong' });
    vi.advanceTimersByTime(20_000);
    expect(sockets[0]?.sent.filter((m) => m.type === 'ping')).toHaveLength(2);
    expect(sockets).toHaveLength(1);
  });

  it('checkConnection: a socket that does not answer a ping within 2 s is reopened and the room resumed', async () => {
    await joinedRoom();
    signaling.checkConnection();
    expect(sockets[0]?.sent.at(-1)?.type).toBe('ping');
    vi.advanceTimersByTime(2_000);
    expect(signaling.status).toBe('reconnecting');
    vi.advanceTimersByTime(1_000);
    sockets[1]?.open();
    expect(sockets[1]?.sent[0]).toMatchObject({ type: 'join', resume: { peerId: expect.any(String) } });
  });

  it('sends a team room key with the join and again with the resume after a drop', async () => {
    const key = 'K'.repeat(43);
    const p = signaling.join(ROOM, key);
    sockets[0]?.open();
    expect(sockets[0]?.sent[0]).toEqual({ v: 1, type: 'join', room: ROOM, key });
    sockets[0]?.receive(joined([OTHER]));
    await p;
    sockets[0]?.drop();
    vi.advanceTimersByTime(500);
    sockets[1]?.open();
    expect(sockets[1]?.sent[0]).toEqual({
      v: 1,
      type: 'join',
      room: ROOM,
      resume: { peerId: ME, token: TOKEN },
      key,
    });
  });

  it('treats bad-key (a damaged team room link) as final: rejects, reports, never retries', async () => {
    const errors: string[] = [];
    signaling.on('error', (code) => errors.push(code));
    const p = signaling.join(ROOM, 'K'.repeat(43));
    sockets[0]?.open();
    sockets[0]?.receive({
      v: 1,
      type: 'error',
      code: 'bad-key',
      message: 'That key does not open this team room.',
    });
    await expect(p).rejects.toThrow('does not open');
    expect(errors).toEqual(['bad-key']);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('treats room-full as final: rejects, reports, never retries', async () => {
    const errors: string[] = [];
    signaling.on('error', (code) => errors.push(code));
    const p = signaling.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive({ v: 1, type: 'error', code: 'room-full', message: 'Room is full' });
    await expect(p).rejects.toThrow('Room is full');
    expect(errors).toEqual(['room-full']);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('drops malformed server frames and relays valid ones', async () => {
    const signals: unknown[] = [];
    signaling.on('signal', (from, data) => signals.push([from, data]));
    const left: string[] = [];
    signaling.on('peerLeft', (id) => left.push(id));
    await joinedRoom();
    sockets[0]?.receive('{not json');
    sockets[0]?.receive({ v: 1, type: 'signal', from: 'short', data: 1 });
    sockets[0]?.receive({ v: 2, type: 'peer-left', peerId: OTHER });
    sockets[0]?.receive({ v: 1, type: 'signal', from: OTHER, data: { kind: 'bye' } });
    sockets[0]?.receive({ v: 1, type: 'peer-left', peerId: OTHER });
    expect(signals).toEqual([[OTHER, { kind: 'bye' }]]);
    expect(left).toEqual([OTHER]);
  });

  it('leave() says goodbye, closes the socket and stops reconnecting', async () => {
    await joinedRoom();
    signaling.leave();
    expect(sockets[0]?.sent.at(-1)).toEqual({ v: 1, type: 'leave' });
    expect(sockets[0]?.closedWith).toBe(1000);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(signaling.status).toBe('closed');
    await expect(signaling.join(ROOM)).rejects.toThrow('Left the call.');
  });
});
