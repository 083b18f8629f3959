import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerLink } from '../peer-link.ts';
import type { FileKeeper, KeptSend } from './exchange-context.ts';
import { fileHash, fileOf, sha, until } from './exchange-test-helpers.ts';
import { fakeConnection, fakeLinkPair } from './fake-link.ts';
import { FileExchange, NOT_UNDERSTOOD, PAUSED } from './file-exchange.ts';
import type { FileSink, SinkFactory } from './file-sink.ts';
import { decodeFrame, encodeBodyFrame } from './frame.ts';
import { BlobListSink } from './memory-sink.ts';
import type { Transfer } from './transfer.ts';

/** A sink that records what happened to it, with an optional slow disk. */
function recordingSinks(options: { free?: number; writeDelayMs?: number } = {}) {
  const discarded: string[] = [];
  const created: string[] = [];
  const factory: SinkFactory = {
    async create(id, name, mime, callbacks) {
      created.push(id);
      const inner = new BlobListSink(name, mime, callbacks);
      if (!options.writeDelayMs) {
        return {
          write: (b) => inner.write(b),
          close: () => inner.close(),
          discard: async () => {
            discarded.push(id);
            await inner.discard();
          },
        } satisfies FileSink;
      }
      let chain = Promise.resolve();
      return {
        write: (b) => {
          const copy = b.slice();
          chain = chain
            .then(() => new Promise((r) => setTimeout(r, options.writeDelayMs)))
            .then(() => inner.write(copy));
        },
        close: () => chain.then(() => inner.close()),
        discard: async () => {
          discarded.push(id);
          await inner.discard();
        },
      };
    },
    async freeBytes() {
      return options.free;
    },
  };
  return { factory, discarded, created };
}

function setup(options: { free?: number; writeDelayMs?: number; maxInFlight?: number } = {}) {
  const pair = fakeLinkPair();
  const sinks = recordingSinks(options);
  const seen = {
    a: [] as Transfer[],
    b: [] as Transfer[],
    problemsA: [] as string[],
    problemsB: [] as string[],
  };
  const events = (side: 'a' | 'b') => ({
    onTransfer: (t: Transfer) => seen[side].push(t),
    onUpdate: () => {},
    onProblem: (s: string) => (side === 'a' ? seen.problemsA : seen.problemsB).push(s),
  });
  const checkImage = async () => true;
  const a = new FileExchange(
    pair.linkA,
    { sinks: sinks.factory, checkImage, maxInFlight: options.maxInFlight },
    events('a'),
  );
  const b = new FileExchange(
    pair.linkB,
    { sinks: sinks.factory, checkImage, maxInFlight: options.maxInFlight },
    events('b'),
  );
  return { pair, a, b, seen, sinks };
}

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

describe('FileExchange', () => {
  it('delivers several files at once, byte for byte, and both sides end "done"', async () => {
    const { a, seen } = setup();
    const files = [randomBytes(3 * 1024 * 1024 + 17), new Uint8Array(0), randomBytes(1000)];
    for (const [i, bytes] of files.entries()) a.send(fileOf(bytes, `f${i}.bin`));
    await until(() => seen.b.length === 3 && seen.b.every((t) => t.state === 'done'), 'received');
    await until(() => seen.a.every((t) => t.state === 'done'), 'sender done');
    for (const [i, bytes] of files.entries()) {
      const received = seen.b.find((t) => t.name === `f${i}.bin`)!;
      const got = new Uint8Array(await received.file!.arrayBuffer());
      expect(sha(got)).toBe(sha(bytes));
      expect(received.sha256).toBe(await fileHash(bytes));
      expect(seen.a[i]!.bytes).toBe(bytes.byteLength);
    }
  });

  it('shares the channel fairly: two big files progress together and finish together', async () => {
    const { a, seen, pair } = setup({ writeDelayMs: 1, maxInFlight: 1024 * 1024 });
    a.send(fileOf(randomBytes(6 * 1024 * 1024), 'one.bin'));
    a.send(fileOf(randomBytes(6 * 1024 * 1024), 'two.bin'));
    await until(() => seen.b.length === 2 && seen.b.every((t) => t.state === 'done'), 'both done', 30_000);
    // Round-robin: neither file waits for the other to finish; both end near the end.
    const order = pair.a.files.sentFrames.map((frame) => new DataView(frame).getUint32(1));
    const indices = [...new Set(order)];
    expect(indices).toHaveLength(2);
    for (const index of indices) expect(order.lastIndexOf(index)).toBeGreaterThan(order.length * 0.85);
  });

  it('never lets more than the in-flight cap go unacknowledged when the disk is slow', async () => {
    const { a, pair, seen } = setup({ writeDelayMs: 2, maxInFlight: 2 * 1024 * 1024 });
    a.send(fileOf(randomBytes(8 * 1024 * 1024), 'slow.bin'));
    let worst = 0;
    const sender = () => seen.a[0]!;
    await until(
      () => {
        const sent = pair.a.files.sentFrames.reduce((n, f) => n + f.byteLength - 13, 0);
        worst = Math.max(worst, sent - sender().bytes);
        return sender().state === 'done';
      },
      'slow transfer',
      30_000,
    );
    expect(worst).toBeLessThanOrEqual(2 * 1024 * 1024 + 256 * 1024);
    expect(pair.a.files.maxBuffered).toBeLessThan(16 * 1024 * 1024);
  });

  it('cancel from the receiver stops the sender and both show cancelled', async () => {
    const { a, b, seen, pair, sinks } = setup({ writeDelayMs: 1 });
    a.send(fileOf(randomBytes(20 * 1024 * 1024), 'x.bin'));
    await until(() => (seen.b[0]?.bytes ?? 0) > 0, 'some bytes');
    b.cancel(seen.b[0]!.id);
    await until(() => seen.a[0]!.state === 'cancelled', 'sender cancelled');
    expect(seen.b[0]!.state).toBe('cancelled');
    expect(seen.a[0]!.cancelledBy).toBe('peer');
    const framesAtCancel = pair.a.files.sentFrames.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(pair.a.files.sentFrames.length).toBe(framesAtCancel);
    expect(sinks.discarded).toContain(seen.b[0]!.id);
  });

  it('a peer leaving mid-transfer interrupts both sides and deletes the partial file', async () => {
    const { a, b, seen, pair, sinks } = setup({ writeDelayMs: 1 });
    cleanups.push(() => {
      a.close('hangup');
      b.close('hangup');
    });
    a.send(fileOf(randomBytes(20 * 1024 * 1024), 'x.bin'));
    await until(() => (seen.b[0]?.bytes ?? 0) > 0, 'some bytes');
    pair.close();
    await until(
      () => seen.a[0]!.state === 'interrupted' && seen.b[0]!.state === 'interrupted',
      'interrupted',
    );
    await until(() => sinks.discarded.includes(seen.b[0]!.id), 'partial deleted');
  });

  it("a connection cut mid-transfer pauses both sides and resumes from the receiver's offset on the next one", async () => {
    const window = 1024 * 1024;
    const { a, b, seen, pair } = setup({ writeDelayMs: 1, maxInFlight: window });
    cleanups.push(() => {
      a.close('hangup');
      b.close('hangup');
    });
    const bytes = randomBytes(8 * 1024 * 1024 + 5);
    a.send(fileOf(bytes, 'big.bin'));
    await until(() => (seen.b[0]?.bytes ?? 0) > 2 * 1024 * 1024, 'some bytes');
    const first = pair.a.files;
    pair.cut();
    expect(seen.a[0]!.state).toBe('paused');
    expect(seen.b[0]!.state).toBe('paused');
    expect(seen.a[0]!.message).toBe(PAUSED);
    await new Promise((r) => setTimeout(r, 50));
    pair.reconnect();
    const second = pair.a.files;
    await until(
      () => seen.b[0]!.state === 'done' && seen.a[0]!.state === 'done',
      () => `done (${seen.a[0]!.state}, ${seen.b[0]!.state})`,
      30_000,
    );
    expect(sha(new Uint8Array(await seen.b[0]!.file!.arrayBuffer()))).toBe(sha(bytes));
    expect(seen.b[0]!.sha256).toBe(await fileHash(bytes));
    // The new connection starts where the receiver was, not at 0, and only what was in
    // flight on the old one is sent twice.
    const offsets = second.sentFrames.map((f) => {
      const d = decodeFrame(f);
      if (!d.ok) throw new Error('bad frame');
      return d.frame.offset;
    });
    expect(offsets[0]).toBeGreaterThan(2 * 1024 * 1024);
    const body = (frames: ArrayBuffer[]) => frames.reduce((n, f) => n + f.byteLength - 13, 0);
    const twice = body(first.sentFrames) + body(second.sentFrames) - bytes.byteLength;
    expect(twice).toBeGreaterThanOrEqual(0);
    // At most the unacknowledged window (the sender may exceed it by the chunk it was sending).
    expect(twice).toBeLessThanOrEqual(window + 256 * 1024);
  }, 40_000);

  it("a new document continues a file the old one was sending, from the receiver's bytes (the keeper held the File)", async () => {
    const kept = new Map<string, KeptSend & { peer: string }>();
    const keeper: FileKeeper = {
      async keep(peer, id, index, file) {
        kept.set(id, { peer, id, index, file });
      },
      release(id) {
        kept.delete(id);
      },
      async reclaim(peer) {
        return [...kept.values()]
          .filter((k) => k.peer === peer)
          .map(({ id, index, file }) => ({ id, index, file }));
      },
    };
    const pair = fakeLinkPair();
    const sinks = recordingSinks({ writeDelayMs: 1 });
    const checkImage = async () => true;
    const seenA: Transfer[] = [];
    const seenA2: Transfer[] = [];
    const seenB: Transfer[] = [];
    const events = (list: Transfer[]) => ({
      onTransfer: (t: Transfer) => list.push(t),
      onUpdate: () => {},
      onProblem: () => {},
    });
    const maxInFlight = 1024 * 1024;
    const a1 = new FileExchange(
      pair.linkA,
      { sinks: sinks.factory, checkImage, keeper, maxInFlight },
      events(seenA),
    );
    const b = new FileExchange(pair.linkB, { sinks: sinks.factory, checkImage, maxInFlight }, events(seenB));
    const bytes = randomBytes(8 * 1024 * 1024 + 5);
    a1.send(fileOf(bytes, 'big.bin'));
    await until(() => (seenB[0]?.bytes ?? 0) > 2 * 1024 * 1024, 'some bytes');
    pair.cut();
    // Ana's document is gone without a word (a1 is never closed); her next one has a new link.
    const linkA2 = new PeerLink(
      'peer-b',
      () => 'Bo',
      () => {},
    );
    const a2 = new FileExchange(
      linkA2,
      { sinks: sinks.factory, checkImage, keeper, maxInFlight },
      events(seenA2),
    );
    cleanups.push(() => {
      a1.close('hangup');
      a2.close('hangup');
      b.close('hangup');
    });
    const connection = fakeConnection(256 * 1024);
    connection.a.control.addEventListener('message', (e) => linkA2.deliver((e as MessageEvent).data));
    connection.b.control.addEventListener('message', (e) => pair.linkB.deliver((e as MessageEvent).data));
    await new Promise((r) => setTimeout(r, 20));
    expect(seenA2.map((t) => t.name)).toEqual(['big.bin']);
    linkA2.attach(connection.a);
    pair.linkB.attach(connection.b);
    await until(
      () => seenB[0]!.state === 'done' && seenA2[0]?.state === 'done',
      () => `done (${seenA2[0]?.state}, ${seenB[0]!.state}: ${seenB[0]!.message})`,
      30_000,
    );
    expect(seenB).toHaveLength(1);
    expect(sha(new Uint8Array(await seenB[0]!.file!.arrayBuffer()))).toBe(sha(bytes));
    expect(seenB[0]!.sha256).toBe(await fileHash(bytes));
    const first = decodeFrame(connection.a.files.sentFrames[0]!);
    if (!first.ok) throw new Error('bad frame');
    expect(first.frame.offset).toBeGreaterThan(2 * 1024 * 1024);
    expect(kept.size).toBe(0);
  }, 40_000);

  it('a cancel made while the connection is down reaches the other side once it is back', async () => {
    const { a, b, seen, pair, sinks } = setup({ writeDelayMs: 1 });
    cleanups.push(() => {
      a.close('hangup');
      b.close('hangup');
    });
    a.send(fileOf(randomBytes(4 * 1024 * 1024), 'x.bin'));
    await until(() => (seen.b[0]?.bytes ?? 0) > 0, 'some bytes');
    pair.cut();
    a.cancel(seen.a[0]!.id);
    expect(seen.b[0]!.state).toBe('paused');
    pair.reconnect();
    await until(() => seen.b[0]!.state === 'cancelled', 'receiver cancelled');
    expect(seen.b[0]!.cancelledBy).toBe('peer');
    await until(() => sinks.discarded.includes(seen.b[0]!.id), 'partial deleted');
  });

  it('refuses a file larger than the free space, with a sentence on both sides', async () => {
    const { a, seen, sinks } = setup({ free: 1024 * 1024 });
    a.send(fileOf(randomBytes(2 * 1024 * 1024), 'big.bin'));
    await until(() => seen.a[0]?.state === 'failed', 'refused');
    expect(seen.b[0]!.state).toBe('failed');
    expect(seen.b[0]!.message).toMatch(/Not enough free space/);
    expect(seen.a[0]!.message).toBe('Bo does not have enough free space for this file.');
    expect(sinks.created).toEqual([]);
  });

  it('marks a file whose hash does not match as corrupted and keeps nothing', async () => {
    const { pair, seen, sinks } = setup();
    const control = pair.a.control;
    const files = pair.a.files;
    control.send(
      JSON.stringify({
        t: 'file-offer',
        id: 'abcdefgh1',
        index: 7,
        name: 'a.txt',
        size: 4,
        mime: 'text/plain',
        lastModified: 0,
      }),
    );
    files.send(encodeBodyFrame(7, 0, new Uint8Array([1, 2, 3, 4])));
    control.send(JSON.stringify({ t: 'file-done', id: 'abcdefgh1', sha256: '0'.repeat(64) }));
    await until(() => seen.b[0]?.state === 'corrupted', 'corrupted');
    expect(seen.b[0]!.file).toBeNull();
    expect(sinks.discarded).toContain('abcdefgh1');
  });

  it('refuses hostile input with a visible error and keeps working', async () => {
    const { a, pair, seen, sinks } = setup();
    const control = pair.a.control;
    const files = pair.a.files;
    const offer = (id: string, index: number, size: number, name = 'x') =>
      control.send(JSON.stringify({ t: 'file-offer', id, index, name, size, mime: '', lastModified: 0 }));
    // Unknown frame type, short frame, frame for a transfer never offered, garbage messages.
    const unknown = encodeBodyFrame(1, 0, new Uint8Array(8));
    new DataView(unknown).setUint8(0, 42);
    files.send(unknown);
    files.send(new ArrayBuffer(3));
    files.send(encodeBodyFrame(99, 0, new Uint8Array(8)));
    control.send(JSON.stringify({ t: 'file-offer', id: '../../x', size: -1 }));
    // Sizes that lie: more bytes than announced.
    offer('liar00001', 1, 4, '../../etc/passwd');
    files.send(encodeBodyFrame(1, 0, new Uint8Array(10)));
    // An offset past the expected position.
    offer('gap000001', 2, 1000, 'CON');
    files.send(encodeBodyFrame(2, 500, new Uint8Array(10)));
    // A thumbnail that is too big (by schema) and one that is not base64.
    offer('thumb0001', 3, 0, '<b>x</b>.png');
    control.send(
      JSON.stringify({
        t: 'file-thumb',
        id: 'thumb0001',
        mime: 'image/jpeg',
        width: 1,
        height: 1,
        data: 'A'.repeat(200_000),
      }),
    );
    await until(
      () => {
        const [liar, gap, thumb] = seen.b;
        return liar?.state === 'failed' && gap?.state === 'failed' && thumb?.thumbnailProblem != null;
      },
      () => `verdicts ${JSON.stringify(seen.b.map((t) => [t.id, t.state, t.thumbnailProblem]))}`,
    );
    expect(seen.problemsB.length).toBeGreaterThanOrEqual(4);
    expect(new Set(seen.problemsB)).toEqual(new Set([NOT_UNDERSTOOD]));
    const byId = Object.fromEntries(seen.b.map((t) => [t.id, t]));
    expect(byId.liar00001!.state).toBe('failed');
    expect(byId.liar00001!.message).toMatch(/more data than it announced/);
    expect(byId.liar00001!.name).toBe('etc_passwd');
    expect(byId.gap000001!.state).toBe('failed');
    expect(byId.gap000001!.name).toBe('_CON');
    expect(byId.thumb0001!.thumbnailProblem).toMatch(/preview was refused/);
    expect(byId.thumb0001!.name).toBe('b_x_b_.png');
    // Storage that was opened for them is deleted (it may open after the refusal).
    await until(
      () =>
        ['liar00001', 'gap000001'].every((id) => !sinks.created.includes(id) || sinks.discarded.includes(id)),
      'discarded',
    );
    // The exchange still works afterwards, both ways.
    const bytes = randomBytes(300_000);
    a.send(fileOf(bytes, 'after.bin'));
    await until(() => seen.b.find((t) => t.name === 'after.bin')?.state === 'done', 'after');
  }, 20_000);

  it('sends the thumbnail first and starts the body only once the receiver shows it', async () => {
    const pair = fakeLinkPair();
    const sinks = recordingSinks();
    const order: string[] = [];
    const received: Transfer[] = [];
    const thumbnail = {
      blob: new Blob([new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3])]),
      width: 32,
      height: 24,
    };
    const a = new FileExchange(
      pair.linkA,
      { sinks: sinks.factory, thumbnails: { make: async () => thumbnail } },
      { onTransfer() {}, onUpdate() {}, onProblem() {} },
    );
    new FileExchange(
      pair.linkB,
      { sinks: sinks.factory, checkImage: async () => true },
      {
        onTransfer: (t) => received.push(t),
        onUpdate: (t) => {
          if (t.thumbnail && !order.includes('thumbnail')) order.push('thumbnail');
          if (t.bytes > 0 && !order.includes('body')) order.push('body');
        },
        onProblem() {},
        thumbnailShown: async () => {
          await new Promise((r) => setTimeout(r, 50));
          order.push('shown');
        },
      },
    );
    pair.b.files.addEventListener('message', () => {
      if (!order.includes('first frame')) order.push('first frame');
    });
    a.send(fileOf(randomBytes(600_000), 'photo.jpg', 'image/jpeg'));
    await until(() => received[0]?.state === 'done', 'done');
    expect(order.slice(0, 2)).toEqual(['thumbnail', 'shown']);
    expect(order.indexOf('first frame')).toBeGreaterThan(order.indexOf('shown'));
    expect(await received[0]!.thumbnail!.arrayBuffer()).toEqual(await thumbnail.blob.arrayBuffer());
  });
});
