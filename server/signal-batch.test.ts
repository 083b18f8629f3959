import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeBatch, SignalBatcher } from './signal-batch.ts';

interface Sent {
  toNode: string;
  batch: Buffer;
}

function batcher(windowMs = 0, maxBytes = 64 * 1024) {
  const sent: Sent[] = [];
  const b = new SignalBatcher({
    windowMs,
    maxBytes,
    publish(toNode, parts, bytes) {
      const batch = Buffer.concat(parts);
      expect(batch.length).toBe(bytes);
      sent.push({ toNode, batch });
    },
  });
  return { b, sent };
}

/** Every record of the batches sent to `toNode`, in the order they went out. */
function records(sent: Sent[], toNode: string) {
  const out: { to: string; from: string; room: string; text: string }[] = [];
  for (const s of sent) {
    if (s.toNode !== toNode) continue;
    decodeBatch(s.batch, (to, from, room, frame) => out.push({ to, from, room, text: frame.toString() }));
  }
  return out;
}

const peer = (n: number) => `peer${String(n).padStart(18, '0')}`;
const FROM = peer(777);
const frame = (text: string) => Buffer.from(text);
const afterTurn = () => new Promise((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
});

describe('SignalBatcher', () => {
  it('sends what one turn queued as one batch per target node, each room in order, frames byte-exact', async () => {
    const { b, sent } = batcher();
    const queued: Record<string, { to: string; from: string; room: string; text: string }[]> = {
      n1: [],
      n2: [],
    };
    for (let i = 0; i < 60; i++) {
      const toNode = i % 3 === 0 ? 'n2' : 'n1';
      const room = `room-${i % 4}`;
      const text = `{"v":1,"type":"signal","from":"x","data":{"seq":${i},"s":"é ✓"}}`;
      b.queue(toNode, room, peer(i % 5), peer(100 + (i % 3)), frame(text));
      queued[toNode]!.push({ to: peer(i % 5), from: peer(100 + (i % 3)), room, text });
    }
    expect(sent).toHaveLength(0);
    await afterTurn();
    expect(sent.map((s) => s.toNode).sort()).toEqual(['n1', 'n2']);
    expect(records(sent, 'n1')).toEqual(queued.n1);
    expect(records(sent, 'n2')).toEqual(queued.n2);
    // Within each room, the sequence numbers rise.
    for (const room of ['room-0', 'room-1', 'room-2', 'room-3']) {
      const seqs = records(sent, 'n1')
        .filter((r) => r.room === room)
        .map((r) => Number(/"seq":(\d+)/.exec(r.text)?.[1]));
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
  });

  it('keeps order across batches: a later turn goes out after the earlier one', async () => {
    const { b, sent } = batcher();
    b.queue('n1', 'r', peer(1), FROM, frame('first'));
    await afterTurn();
    b.queue('n1', 'r', peer(1), FROM, frame('second'));
    b.queue('n1', 'r', peer(1), FROM, frame('third'));
    await afterTurn();
    expect(sent).toHaveLength(2);
    expect(records(sent, 'n1').map((r) => r.text)).toEqual(['first', 'second', 'third']);
  });

  it('loses no frame when closed with a batch pending, and takes none after', () => {
    const { b, sent } = batcher();
    b.queue('n1', 'r', peer(1), FROM, frame('pending-1'));
    b.queue('n2', 'r', peer(2), FROM, frame('pending-2'));
    b.close();
    expect(records(sent, 'n1').map((r) => r.text)).toEqual(['pending-1']);
    expect(records(sent, 'n2').map((r) => r.text)).toEqual(['pending-2']);
    expect(b.queue('n1', 'r', peer(1), FROM, frame('late'))).toBe(false);
    expect(sent).toHaveLength(2);
  });

  it('splits a batch that would pass maxBytes, in order, and sends an oversize record alone', async () => {
    const maxBytes = 1000;
    const { b, sent } = batcher(0, maxBytes);
    const texts: string[] = [];
    for (let i = 0; i < 40; i++) {
      const text = `${i}:${'x'.repeat(100)}`;
      texts.push(text);
      b.queue('n1', 'room', peer(i), FROM, frame(text));
    }
    const big = 'y'.repeat(3 * maxBytes);
    texts.push(big);
    b.queue('n1', 'room', peer(99), FROM, frame(big));
    texts.push('after-big');
    b.queue('n1', 'room', peer(98), FROM, frame('after-big'));
    await afterTurn();
    expect(sent.length).toBeGreaterThan(4);
    expect(records(sent, 'n1').map((r) => r.text)).toEqual(texts);
    for (const s of sent) {
      const alone = s.batch.length > maxBytes;
      if (alone) expect(records([s], 'n1').map((r) => r.text)).toEqual([big]);
    }
    expect(sent.filter((s) => s.batch.length > maxBytes)).toHaveLength(1);
  });

  it('with a time window, holds the first record that long and sends what came meanwhile with it', () => {
    vi.useFakeTimers();
    const { b, sent } = batcher(2);
    b.queue('n1', 'r', peer(1), FROM, frame('a'));
    vi.advanceTimersByTime(1);
    b.queue('n1', 'r', peer(1), FROM, frame('b'));
    expect(sent).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(1);
    expect(records(sent, 'n1').map((r) => r.text)).toEqual(['a', 'b']);
  });

  it('refuses a peer id that is not 22 characters (the record layout depends on it)', () => {
    const { b } = batcher();
    expect(() => b.queue('n1', 'r', 'short', FROM, frame('x'))).toThrow(/22 characters/);
    expect(() => b.queue('n1', 'r', peer(1), 'short', frame('x'))).toThrow(/22 characters/);
  });
});

describe('decodeBatch', () => {
  it('ignores a truncated record at the end and keeps the whole ones before it', async () => {
    const { b, sent } = batcher();
    b.queue('n1', 'r', peer(1), FROM, frame('whole'));
    b.queue('n1', 'r', peer(2), FROM, frame('cut short'));
    await afterTurn();
    const batch = sent[0]!.batch;
    const got: string[] = [];
    decodeBatch(batch.subarray(0, batch.length - 3), (_to, _from, _room, f) => got.push(f.toString()));
    expect(got).toEqual(['whole']);
  });
});
