/**
 * "Send it again to continue", with fakes (the e2e with a reloaded guest page is
 * test/e2e/files-send-again.test.ts): Bo's document sending a file to Ana goes away mid-file;
 * Ana keeps the part she has on her partial shelf; Bo's next document (a new link, a new peer
 * id) sends the same file and continues from her bytes. A different file, or another person
 * with the same file, starts from 0 and leaves Bo's part alone.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerLink } from '../peer-link.ts';
import { fileHash, fileOf, sha, until } from './exchange-test-helpers.ts';
import { fakeConnection } from './fake-link.ts';
import { FileExchange } from './file-exchange.ts';
import type { FileSink, SinkFactory } from './file-sink.ts';
import { decodeFrame } from './frame.ts';
import { sendAgainSentence } from './incoming-files.ts';
import { BlobListSink } from './memory-sink.ts';
import { PartialShelf, type ShelvedPartial } from './partial-shelf.ts';
import { resumableFor, sendAgainKeys } from './send-again-key.ts';
import type { Transfer } from './transfer.ts';

const MAX_IN_FLIGHT = 1024 * 1024;

/** Sinks that write after a short delay (so a cut leaves a partial file), recording their lives. */
function slowSinks() {
  const created: string[] = [];
  const discarded: string[] = [];
  const factory: SinkFactory = {
    async create(id, name, mime, callbacks) {
      created.push(id);
      const inner = new BlobListSink(name, mime, callbacks);
      let chain = Promise.resolve();
      return {
        write: (b) => {
          const copy = b.slice();
          chain = chain.then(() => new Promise((r) => setTimeout(r, 1))).then(() => inner.write(copy));
        },
        close: () => chain.then(() => inner.close()),
        discard: async () => {
          discarded.push(id);
          await inner.discard();
        },
      } satisfies FileSink;
    },
    async freeBytes() {
      return undefined;
    },
  };
  return { factory, created, discarded };
}

const secret = () => new Uint8Array(randomBytes(32));
const bodyBytes = (frames: ArrayBuffer[]) => frames.reduce((n, f) => n + f.byteLength - 13, 0);
const firstOffset = (frames: ArrayBuffer[]) => {
  const decoded = decodeFrame(frames[0]!);
  if (!decoded.ok) throw new Error('bad frame');
  return decoded.frame.offset;
};

/** Ana, whose document stays: one shelf shared by her exchanges with everyone. */
function ana() {
  const sinks = slowSinks();
  const shelf = new PartialShelf();
  const seen: Transfer[] = [];
  const continued = new Map<Transfer, Transfer>();
  const exchanges: FileExchange[] = [];
  return {
    sinks,
    shelf,
    seen,
    continued,
    exchanges,
    /** Ana's exchange with one document of someone (their peer id, as Ana knows it). */
    exchange(link: PeerLink) {
      const exchange = new FileExchange(
        link,
        { sinks: sinks.factory, shelf, checkImage: async () => true, maxInFlight: MAX_IN_FLIGHT },
        {
          onTransfer: (t, continues) => {
            seen.push(t);
            if (continues) continued.set(t, continues);
          },
          onUpdate: () => {},
          onProblem: () => {},
        },
      );
      exchanges.push(exchange);
      return exchange;
    },
  };
}

/**
 * One document of a sender (Bo's page, then his reloaded page; or Cy's) connected to Ana.
 * `existing`: Ana's link to them when it is the one an earlier document of theirs used (their
 * peer id stayed: an overlay re-mounted); otherwise a new one, with a new exchange on her side.
 */
function senderDocument(
  anaSide: ReturnType<typeof ana>,
  who: { name: string; id: string; secret: Uint8Array },
  existing?: PeerLink,
) {
  const toAna = new PeerLink(
    'ana',
    () => 'Ana',
    () => {},
  );
  const fromThem =
    existing ??
    new PeerLink(
      who.id,
      () => who.name,
      () => {},
    );
  const seen: Transfer[] = [];
  const exchange = new FileExchange(
    toAna,
    {
      sinks: slowSinks().factory,
      sendAgain: sendAgainKeys(who.secret as Uint8Array<ArrayBuffer>),
      maxInFlight: MAX_IN_FLIGHT,
    },
    { onTransfer: (t) => seen.push(t), onUpdate: () => {}, onProblem: () => {} },
  );
  if (!existing) anaSide.exchange(fromThem);
  const connection = fakeConnection(256 * 1024);
  connection.a.control.addEventListener('message', (e) => toAna.deliver((e as MessageEvent).data));
  connection.b.control.addEventListener('message', (e) => fromThem.deliver((e as MessageEvent).data));
  toAna.attach(connection.a);
  fromThem.attach(connection.b);
  const cut = () => {
    connection.a.control.close();
    connection.a.files.close();
    toAna.detach();
    fromThem.detach();
  };
  return {
    exchange,
    seen,
    toAna,
    fromThem,
    sentFrames: connection.a.files.sentFrames,
    /** The document is gone without a word; Ana's link to it waits for their next one. */
    cut,
    /** The document is gone without a word: its channels close and Ana's link to it ends. */
    gone() {
      cut();
      fromThem.close();
    },
    close: () => exchange.close('hangup'),
  };
}

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups) c();
  cleanups = [];
});

describe('send it again to continue', () => {
  it("keeps the part received when the sender's page goes away, and continues it when the same person sends the same file again", async () => {
    const side = ana();
    const boSecret = secret();
    const bo1 = senderDocument(side, { name: 'Bo', id: 'bo-1', secret: boSecret });
    cleanups.push(() => bo1.close());
    const bytes = randomBytes(8 * 1024 * 1024 + 5);
    bo1.exchange.send(fileOf(bytes, 'movie.bin'));
    await until(
      () => (side.seen[0]?.bytes ?? 0) > 2 * 1024 * 1024,
      () => 'some bytes',
    );
    bo1.gone();
    const partial = side.seen[0]!;
    await until(
      () => partial.message === sendAgainSentence('Bo'),
      () => `the paused sentence (${partial.state}: ${partial.message})`,
    );
    expect(partial.state).toBe('paused');
    const received = partial.bytes;
    expect(side.sinks.discarded).toEqual([]);

    // Bo's page is back (a new peer id) and he drops the same file again.
    const bo2 = senderDocument(side, { name: 'Bo', id: 'bo-2', secret: boSecret });
    cleanups.push(() => bo2.close());
    bo2.exchange.send(fileOf(bytes, 'movie.bin'));
    await until(
      () => side.seen[1]?.state === 'done' && bo2.seen[0]?.state === 'done',
      () => `done (${side.seen[1]?.state}: ${side.seen[1]?.message}; ${bo2.seen[0]?.state})`,
    );
    const done = side.seen[1]!;
    expect(side.continued.get(done)).toBe(partial);
    expect(sha(new Uint8Array(await done.file!.arrayBuffer()))).toBe(sha(bytes));
    expect(done.sha256).toBe(await fileHash(bytes));
    expect(bo2.seen[0]!.sha256).toBe(await fileHash(bytes));
    // One partial file, continued: none started over, none deleted.
    expect(side.sinks.created).toHaveLength(1);
    expect(side.sinks.discarded).toEqual([]);
    expect(firstOffset(bo2.sentFrames)).toBeGreaterThanOrEqual(received);
    const twice = bodyBytes(bo1.sentFrames) + bodyBytes(bo2.sentFrames) - bytes.byteLength;
    expect(twice).toBeGreaterThanOrEqual(0);
    expect(twice).toBeLessThanOrEqual(MAX_IN_FLIGHT + 256 * 1024);
    expect(side.shelf.size).toBe(0);
  }, 40_000);

  it('starts from 0 for a different file with the same name and size, and for another person with the same file', async () => {
    const side = ana();
    const boSecret = secret();
    const bo1 = senderDocument(side, { name: 'Bo', id: 'bo-1', secret: boSecret });
    cleanups.push(() => bo1.close());
    const bytes = randomBytes(4 * 1024 * 1024);
    bo1.exchange.send(fileOf(bytes, 'movie.bin'));
    await until(
      () => (side.seen[0]?.bytes ?? 0) > 1024 * 1024,
      () => 'some bytes',
    );
    bo1.gone();
    const partial = side.seen[0]!;
    await until(
      () => partial.message === sendAgainSentence('Bo'),
      () => 'the paused sentence',
    );

    // Cy has the very same file (Bo sent it to him too), but he is not Bo.
    const cy = senderDocument(side, { name: 'Bo', id: 'cy-1', secret: secret() });
    cleanups.push(() => cy.close());
    cy.exchange.send(fileOf(bytes, 'movie.bin'));
    // Bo, with a different file of the same name and size (its first chunk differs).
    const bo2 = senderDocument(side, { name: 'Bo', id: 'bo-2', secret: boSecret });
    cleanups.push(() => bo2.close());
    const other = Uint8Array.from(bytes);
    other[0] = (other[0]! + 1) % 256;
    bo2.exchange.send(fileOf(other, 'movie.bin'));
    await until(
      () => side.seen.length === 3 && side.seen.slice(1).every((t) => t.state === 'done'),
      () => `both done (${side.seen.map((t) => `${t.state}: ${t.message}`).join(', ')})`,
    );
    for (const sender of [cy, bo2]) expect(firstOffset(sender.sentFrames)).toBe(0);
    expect(bodyBytes(cy.sentFrames)).toBe(bytes.byteLength);
    expect(bodyBytes(bo2.sentFrames)).toBe(bytes.byteLength);
    const byHash = new Map(side.seen.slice(1).map((t) => [t.sha256, t]));
    expect(byHash.has(await fileHash(bytes))).toBe(true);
    expect(byHash.has(await fileHash(other))).toBe(true);
    expect(side.continued.size).toBe(0);
    // Bo's part is still kept for him.
    expect(partial.state).toBe('paused');
    expect(side.shelf.size).toBe(1);
    expect(side.sinks.discarded).toEqual([]);
  }, 40_000);

  it('continues on the same link when only the document changed (an overlay re-mounted without an offscreen document)', async () => {
    const side = ana();
    const boSecret = secret();
    const bo1 = senderDocument(side, { name: 'Bo', id: 'bo', secret: boSecret });
    cleanups.push(() => bo1.close());
    const bytes = randomBytes(6 * 1024 * 1024);
    bo1.exchange.send(fileOf(bytes, 'notes.bin'));
    await until(
      () => (side.seen[0]?.bytes ?? 0) > 2 * 1024 * 1024,
      () => 'some bytes',
    );
    bo1.cut();
    const partial = side.seen[0]!;
    expect(partial.state).toBe('paused');
    // His next document connects to the same link of Ana's (same peer id) and has no card.
    const bo2 = senderDocument(side, { name: 'Bo', id: 'bo', secret: boSecret }, bo1.fromThem);
    cleanups.push(() => bo2.close());
    expect(bo2.seen).toEqual([]);
    const received = partial.bytes;
    bo2.exchange.send(fileOf(bytes, 'notes.bin'));
    await until(
      () => side.seen[1]?.state === 'done',
      () => `done (${side.seen[1]?.state}: ${side.seen[1]?.message})`,
    );
    expect(side.continued.get(side.seen[1]!)).toBe(partial);
    expect(side.seen[1]!.sha256).toBe(await fileHash(bytes));
    expect(firstOffset(bo2.sentFrames)).toBeGreaterThanOrEqual(received);
    expect(side.sinks.created).toHaveLength(1);
  }, 40_000);

  it('tells a sender whose link to the receiver was lost for good that sending again continues', async () => {
    const side = ana();
    const bo = senderDocument(side, { name: 'Bo', id: 'bo', secret: secret() });
    cleanups.push(() => bo.close());
    bo.exchange.send(fileOf(randomBytes(4 * 1024 * 1024), 'notes.bin'));
    await until(
      () => (side.seen[0]?.bytes ?? 0) > 1024 * 1024,
      () => 'some bytes',
    );
    bo.cut();
    bo.toAna.close();
    await until(
      () => bo.seen[0]!.state === 'interrupted',
      () => `interrupted (${bo.seen[0]!.state})`,
    );
    expect(bo.seen[0]!.message).toBe(
      'Interrupted: the connection was lost before the file was complete. Send it again to continue.',
    );
  });

  it('gives each receiver its own key, the same for every document with the same secret', async () => {
    const boSecret = secret();
    const file = fileOf(randomBytes(1000), 'a.bin');
    const toAna = await resumableFor(sendAgainKeys(boSecret), file, 'ana');
    const toAnaAgain = await resumableFor(sendAgainKeys(Uint8Array.from(boSecret)), file, 'ana');
    const toCy = await resumableFor(sendAgainKeys(boSecret), file, 'cy');
    const cyOwn = await resumableFor(sendAgainKeys(secret()), file, 'ana');
    expect(toAnaAgain).toEqual(toAna);
    expect(toCy.head).toBe(toAna.head);
    expect(toCy.key).not.toBe(toAna.key);
    expect(cyOwn.key).not.toBe(toAna.key);
    expect(toAna.head).toBe(sha(new Uint8Array(await file.arrayBuffer())));
  });
});

describe('the partial shelf', () => {
  function partial(name: string, dropped: string[]): ShelvedPartial {
    const transfer = { name } as Transfer;
    return {
      match: { head: 'a'.repeat(64), key: 'b'.repeat(64), size: 10, name },
      transfer,
      take: () => {
        throw new Error('not taken here');
      },
      drop: (sentence) => dropped.push(`${name}: ${sentence}`),
    };
  }

  it('keeps a few files for a while: the oldest goes to make room, and each goes when its time is up', async () => {
    const dropped: string[] = [];
    const shelf = new PartialShelf({ maxFiles: 2, keepMs: 60_000 });
    const [one, two, three] = ['one', 'two', 'three'].map((n) => partial(n, dropped));
    shelf.put(one!);
    shelf.put(two!);
    shelf.put(three!);
    expect(dropped).toEqual([
      'one: Interrupted: too many unfinished files were waiting to be sent again; this one was deleted.',
    ]);
    expect(shelf.claim(one!.match)).toBeUndefined();
    shelf.dispose();
    expect(dropped.slice(1).sort()).toEqual([
      'three: Interrupted: the call ended before the file was complete.',
      'two: Interrupted: the call ended before the file was complete.',
    ]);

    const soon = new PartialShelf({ maxFiles: 2, keepMs: 20 });
    soon.put(partial('four', dropped));
    await until(
      () => soon.size === 0,
      () => 'expiry',
    );
    expect(dropped.at(-1)).toMatch(/^four: Interrupted: it was not sent again within \d+ minutes?;/);
  });

  it('hands a file only to an offer that repeats its key, first-chunk hash, size and name', () => {
    const shelf = new PartialShelf();
    const kept = partial('movie.bin', []);
    shelf.put(kept);
    const { match } = kept;
    expect(shelf.claim({ ...match, key: 'c'.repeat(64) })).toBeUndefined();
    expect(shelf.claim({ ...match, head: 'c'.repeat(64) })).toBeUndefined();
    expect(shelf.claim({ ...match, size: 11 })).toBeUndefined();
    expect(shelf.claim({ ...match, name: 'movie.bin ' })).toBeUndefined();
    expect(shelf.claim({ ...match })).toBe(kept);
    expect(shelf.claim({ ...match })).toBeUndefined();
  });
});
