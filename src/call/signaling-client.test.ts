import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeConnect } from '../../test/helpers/fake-websocket.ts';
import type { IncomingMessage } from './signaling-client.ts';
import { SignalingClient, type SignalingPart } from './signaling-client.ts';

const PEER = 'PPPPPPPPPPPPPPPPPPPPPP';

/** A part that records what the client tells it and claims the message types it is given. */
function recordingPart(claims: IncomingMessage['type'][] = []) {
  const log: string[] = [];
  const part: SignalingPart = {
    opened: () => log.push('opened'),
    received: (m) => {
      log.push(`received ${m.type}`);
      return claims.includes(m.type);
    },
    closed: (code) => log.push(`closed ${code}`),
  };
  return { part, log };
}

describe('SignalingClient: one socket for every part', () => {
  let fake: ReturnType<typeof fakeConnect>;
  let client: SignalingClient;
  let random: () => number;

  beforeEach(() => {
    vi.useFakeTimers();
    fake = fakeConnect();
    random = () => 0.999999;
    client = new SignalingClient({
      server: 'https://signal.example:8443',
      connect: fake.connect,
      backoff: { random: () => random() },
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens wss://host/ws when a part attaches and tells it once the socket is open', () => {
    const { part, log } = recordingPart();
    client.attach(part);
    expect(fake.sockets.map((s) => s.url)).toEqual(['wss://signal.example:8443/ws']);
    expect(log).toEqual([]);
    fake.sockets[0]?.open();
    expect(log).toEqual(['opened']);
    // A second part on the same open socket is told at once; no second socket.
    const second = recordingPart();
    client.attach(second.part);
    expect(second.log).toEqual(['opened']);
    expect(fake.sockets).toHaveLength(1);
  });

  it('offers each valid message to the parts in turn until one takes it; drops malformed frames and pongs', () => {
    const rooms = recordingPart(['signal']);
    const presence = recordingPart(['peer-left']);
    client.attach(rooms.part);
    client.attach(presence.part);
    const socket = fake.sockets[0]!;
    socket.open();
    socket.receive('{not json');
    socket.receive({ v: 1, type: 'signal', from: 'short', data: 1 });
    socket.receive({ v: 1, type: 'pong' });
    socket.receive({ v: 1, type: 'signal', from: PEER, data: 1 });
    socket.receive({ v: 1, type: 'peer-left', peerId: PEER });
    expect(rooms.log).toEqual(['opened', 'received signal', 'received peer-left']);
    expect(presence.log).toEqual(['opened', 'received peer-left']);
  });

  it('sends a keepalive ping every 20 s while open (and tells the host each time), and none once closed', () => {
    let kept = 0;
    const c = new SignalingClient({
      server: 'http://127.0.0.1:8787',
      connect: fake.connect,
      onKeepalive: () => kept++,
    });
    c.attach(recordingPart().part);
    const socket = fake.sockets[0]!;
    socket.open();
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(20_000);
      socket.receive({ v: 1, type: 'pong' });
    }
    expect(socket.types()).toEqual(['ping', 'ping', 'ping']);
    expect(kept).toBe(3);
    expect(socket.closedWith).toBeNull();
    socket.drop();
    vi.advanceTimersByTime(60_000);
    expect(socket.types()).toEqual(['ping', 'ping', 'ping']);
    expect(kept).toBe(3);
  });

  it('reopens a lost socket after a jittered, growing delay, and starts over after resetBackoff', () => {
    const { part, log } = recordingPart();
    client.attach(part);
    // Worst-case jitter: the full step, 500 ms then 1000 ms.
    fake.sockets[0]?.drop();
    expect(log).toEqual(['closed 1006']);
    vi.advanceTimersByTime(499);
    expect(fake.sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(fake.sockets).toHaveLength(2);
    fake.sockets[1]?.drop(1001);
    vi.advanceTimersByTime(999);
    expect(fake.sockets).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(fake.sockets).toHaveLength(3);
    // Best-case jitter: half the step (2000 ms → 1000 ms).
    random = () => 0;
    fake.sockets[2]?.drop();
    vi.advanceTimersByTime(999);
    expect(fake.sockets).toHaveLength(3);
    vi.advanceTimersByTime(1);
    expect(fake.sockets).toHaveLength(4);
    // The part got what it came for: the next loss waits the shortest delay again.
    fake.sockets[3]?.open();
    client.resetBackoff();
    fake.sockets[3]?.drop();
    vi.advanceTimersByTime(250);
    expect(fake.sockets).toHaveLength(5);
    fake.sockets[4]?.open();
    expect(log.filter((l) => l === 'opened')).toHaveLength(2);
  });

  it('retries a socket the runtime refused to create', () => {
    let refuse = true;
    const c = new SignalingClient({
      server: 'http://127.0.0.1:8787',
      connect: (url) => {
        if (refuse) throw new SyntaxError('blocked');
        return fake.connect(url);
      },
      backoff: { random: () => 0 },
    });
    const { part, log } = recordingPart();
    c.attach(part);
    expect(log).toEqual(['closed 1006']);
    refuse = false;
    vi.advanceTimersByTime(250);
    fake.sockets[0]?.open();
    expect(log).toEqual(['closed 1006', 'opened']);
  });

  it('closes the socket when the last part detaches, and cancels a pending retry', () => {
    const a = recordingPart();
    const b = recordingPart();
    client.attach(a.part);
    client.attach(b.part);
    fake.sockets[0]?.open();
    client.detach(a.part);
    expect(fake.sockets[0]?.closedWith).toBeNull();
    client.detach(b.part);
    expect(fake.sockets[0]?.closedWith).toBe(1000);
    expect(client.send({ v: 1, type: 'ping' })).toBe(false);

    client.attach(a.part);
    fake.sockets[1]?.drop();
    client.detach(a.part);
    vi.advanceTimersByTime(60_000);
    expect(fake.sockets).toHaveLength(2);
  });

  it('preconnects without a part and lets that socket go quietly if it closes', () => {
    client.preconnect();
    client.preconnect();
    expect(fake.sockets).toHaveLength(1);
    fake.sockets[0]?.open();
    expect(fake.sockets[0]?.sent).toEqual([]);
    fake.sockets[0]?.drop();
    vi.advanceTimersByTime(60_000);
    expect(fake.sockets).toHaveLength(1);
    const { part, log } = recordingPart();
    client.attach(part);
    fake.sockets[1]?.open();
    expect(log).toEqual(['opened']);
  });
  it('drops a socket that stays silent 10 s after a keepalive ping (half-open) and opens another', () => {
    const { part, log } = recordingPart();
    client.attach(part);
    const socket = fake.sockets[0]!;
    socket.open();
    vi.advanceTimersByTime(20_000 + 9_999);
    expect(log).toEqual(['opened']);
    vi.advanceTimersByTime(1);
    expect(socket.closedWith).toBe(1000);
    expect(log).toEqual(['opened', 'closed 1006']);
    vi.advanceTimersByTime(500);
    expect(fake.sockets).toHaveLength(2);
    // Whatever the server sends counts as an answer.
    fake.sockets[1]?.open();
    vi.advanceTimersByTime(20_000);
    fake.sockets[1]?.receive({ v: 1, type: 'peer-left', peerId: PEER });
    vi.advanceTimersByTime(15_000);
    expect(fake.sockets[1]?.closedWith).toBeNull();
  });

  it('probes on a network change: a socket that does not answer within 2 s is reopened', () => {
    let changed = () => {};
    const c = new SignalingClient({
      server: 'http://127.0.0.1:8787',
      connect: fake.connect,
      backoff: { random: () => 0 },
      watchNetwork: (f) => {
        changed = () => f('change');
        return () => {
          changed = () => {};
        };
      },
    });
    const { part, log } = recordingPart();
    c.attach(part);
    fake.sockets[0]?.open();
    changed();
    expect(fake.sockets[0]?.types()).toEqual(['ping']);
    vi.advanceTimersByTime(1_000);
    fake.sockets[0]?.receive({ v: 1, type: 'pong' });
    vi.advanceTimersByTime(5_000);
    expect(log).toEqual(['opened']);
    c.probe(); // the call's media stopped
    vi.advanceTimersByTime(2_000);
    expect(log).toEqual(['opened', 'closed 1006']);
    // A network change while waiting to retry: retry now.
    changed();
    expect(fake.sockets).toHaveLength(2);
    c.detach(part);
    changed();
    expect(fake.sockets).toHaveLength(2);
  });

  it("reopens at once when the device comes back online, an open socket's answer not awaited", () => {
    let changed: (kind: 'online' | 'change') => void = () => {};
    const c = new SignalingClient({
      server: 'http://127.0.0.1:8787',
      connect: fake.connect,
      backoff: { random: () => 0 },
      watchNetwork: (f) => {
        changed = f;
        return () => {};
      },
    });
    const { part, log } = recordingPart();
    c.attach(part);
    fake.sockets[0]?.open();
    changed('online');
    expect(fake.sockets[0]?.closedWith).toBe(1000);
    expect(log).toEqual(['opened', 'closed 1006']);
    expect(fake.sockets).toHaveLength(2);
    // Online again while that one is still opening: it may be stuck on the old network too.
    changed('online');
    expect(fake.sockets[1]?.closedWith).toBe(1000);
    expect(fake.sockets).toHaveLength(3);
    fake.sockets[2]?.open();
    expect(log).toEqual(['opened', 'closed 1006', 'closed 1006', 'opened']);
    c.detach(part);
  });

  it('gives up on a socket that does not open within 10 s', () => {
    const { part, log } = recordingPart();
    client.attach(part);
    vi.advanceTimersByTime(10_000);
    expect(fake.sockets[0]?.closedWith).toBe(1000);
    expect(log).toEqual(['closed 1006']);
    vi.advanceTimersByTime(500);
    expect(fake.sockets).toHaveLength(2);
  });
});
