import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type WebSocketLike, WebSocketSignaling } from './websocket-signaling.ts';

const ROOM = 'RRRRRRRRRRRRRRRRRRRRRR';
const ME = 'MMMMMMMMMMMMMMMMMMMMMM';
const OTHER = 'OOOOOOOOOOOOOOOOOOOOOO';
const TOKEN = 'TTTTTTTTTTTTTTTTTTTTTT';

class FakeSocket implements WebSocketLike {
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(): void {
    this.readyState = 3;
  }
  // test side
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: unknown): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

function joined(peers: string[] = []) {
  return {
    v: 1,
    type: 'joined',
    room: ROOM,
    peerId: ME,
    resumeToken: TOKEN,
    peers,
    iceServers: [],
    capacity: 2,
  };
}

describe('WebSocketSignaling', () => {
  let sockets: FakeSocket[];
  let signaling: WebSocketSignaling;

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    signaling = new WebSocketSignaling({
      server: 'http://127.0.0.1:8787',
      createSocket: (url) => {
        const s = new FakeSocket(url);
        sockets.push(s);
        return s;
      },
      backoff: { random: () => 0.999999 },
    });
  });
  afterEach(() => {
    signaling.leave();
    vi.useRealTimers();
  });

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

  it('joins the room over ws://host/ws and resolves with the room info', async () => {
    const p = signaling.join(ROOM);
    expect(sockets[0]?.url).toBe('ws://127.0.0.1:8787/ws');
    sockets[0]?.open();
    expect(sockets[0]?.sent[0]).toEqual({ v: 1, type: 'join', room: ROOM });
    sockets[0]?.receive(joined([OTHER]));
    await expect(p).resolves.toMatchObject({ peerId: ME, peers: [OTHER], capacity: 2 });
  });

  it('reconnects after a drop with resume, so the peer id stays the same', async () => {
    const onJoined = vi.fn();
    signaling.on('joined', onJoined);
    const statuses: string[] = [];
    signaling.on('status', (s) => statuses.push(s));
    const p = signaling.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive(joined());
    await p;
    sockets[0]?.drop();
    expect(statuses.at(-1)).toBe('reconnecting');
    expect(sockets).toHaveLength(1);
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

  it('backs off further on repeated failures, then resets after a join', () => {
    void signaling.join(ROOM).catch(() => {});
    sockets[0]?.drop();
    vi.advanceTimersByTime(499);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    sockets[1]?.drop();
    vi.advanceTimersByTime(999);
    expect(sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(3);
  });

  it('queues signals while reconnecting and sends them after the re-join', async () => {
    const p = signaling.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive(joined([OTHER]));
    await p;
    sockets[0]?.drop();
    signaling.send(OTHER, { kind: 'bye' });
    vi.advanceTimersByTime(500);
    sockets[1]?.open();
    expect(sockets[1]?.sent).toHaveLength(1);
    sockets[1]?.receive(joined([OTHER]));
    expect(sockets[1]?.sent[1]).toEqual({ v: 1, type: 'signal', to: OTHER, data: { kind: 'bye' } });
  });

  it('sends a keepalive ping every 20 s', async () => {
    const p = signaling.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive(joined());
    await p;
    vi.advanceTimersByTime(40_000);
    expect(sockets[0]?.sent.filter((m) => m.type === 'ping')).toHaveLength(2);
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
    const p = signaling.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive(joined());
    await p;
    sockets[0]?.receive('{not json');
    sockets[0]?.receive({ v: 1, type: 'signal', from: 'short', data: 1 });
    sockets[0]?.receive({ v: 2, type: 'peer-left', peerId: OTHER });
    sockets[0]?.receive({ v: 1, type: 'signal', from: OTHER, data: { kind: 'bye' } });
    sockets[0]?.receive({ v: 1, type: 'peer-left', peerId: OTHER });
    expect(signals).toEqual([[OTHER, { kind: 'bye' }]]);
    expect(left).toEqual([OTHER]);
  });

  it('leave() says goodbye and stops reconnecting', async () => {
    const p = signaling.join(ROOM);
    sockets[0]?.open();
    sockets[0]?.receive(joined());
    await p;
    signaling.leave();
    expect(sockets[0]?.sent.at(-1)).toEqual({ v: 1, type: 'leave' });
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(signaling.status).toBe('closed');
  });
});
