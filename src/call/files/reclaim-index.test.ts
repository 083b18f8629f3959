/**
 * A re-mounted extension overlay takes over the Files its earlier document was sending (the
 * keeper, in the extension the offscreen document, answers a moment later), and a file
 * dropped in those moments must not get the index of one of them: the receiver refuses an
 * index it already knows.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { PeerLink } from '../peer-link.ts';
import type { FileKeeper, KeptSend } from './exchange-context.ts';
import { fileOf, sha, until } from './exchange-test-helpers.ts';
import { fakeConnection, fakeLinkPair } from './fake-link.ts';
import { FileExchange } from './file-exchange.ts';
import type { SinkFactory } from './file-sink.ts';
import { BlobListSink } from './memory-sink.ts';
import type { Transfer } from './transfer.ts';

/** In-memory sinks on a slow disk (1 ms a write), so that a transfer can be cut midway. */
const slowSinks: SinkFactory = {
  async create(_id, name, mime, callbacks) {
    const inner = new BlobListSink(name, mime, callbacks);
    let chain = Promise.resolve();
    return {
      write(bytes) {
        const copy = bytes.slice();
        chain = chain.then(() => new Promise((r) => setTimeout(r, 1))).then(() => inner.write(copy));
      },
      close: () => chain.then(() => inner.close()),
      discard: () => inner.discard(),
    };
  },
  async freeBytes() {
    return undefined;
  },
};

let cleanup = () => {};
afterEach(() => cleanup());

it('a file dropped while the new overlay still reclaims the kept ones gets an index of its own: both arrive', async () => {
  const kept = new Map<string, KeptSend & { peer: string }>();
  /** The keeper's answer to a reclaim waits for this (the offscreen document's round trip). */
  let answer: Promise<void> = Promise.resolve();
  const keeper: FileKeeper = {
    async keep(peer, id, index, file) {
      kept.set(id, { peer, id, index, file });
    },
    release(id) {
      kept.delete(id);
    },
    async reclaim(peer) {
      await answer;
      return [...kept.values()]
        .filter((k) => k.peer === peer)
        .map(({ id, index, file }) => ({ id, index, file }));
    },
  };
  const received: Transfer[] = [];
  const problems: string[] = [];
  const events = (list: Transfer[], onProblem: (s: string) => void = () => {}) => ({
    onTransfer: (t: Transfer) => list.push(t),
    onUpdate: () => {},
    onProblem,
  });
  const options = { sinks: slowSinks, checkImage: async () => true, keeper, maxInFlight: 1024 * 1024 };
  const pair = fakeLinkPair();
  const a1 = new FileExchange(pair.linkA, options, events([]));
  const b = new FileExchange(
    pair.linkB,
    { ...options, keeper: undefined },
    events(received, (s) => problems.push(s)),
  );
  const big = randomBytes(6 * 1024 * 1024 + 3);
  a1.send(fileOf(big, 'big.bin'));
  await until(
    () => (received[0]?.bytes ?? 0) > 1024 * 1024,
    () => 'the first bytes of big.bin',
  );

  // Ana's overlay is re-mounted: the old document is gone without a word, the new one has a
  // new link on a new connection, and its keeper answers a moment after it asked.
  pair.cut();
  const linkA2 = new PeerLink(
    'peer-b',
    () => 'Bo',
    () => {},
  );
  const connection = fakeConnection(256 * 1024);
  connection.a.control.addEventListener('message', (e) => linkA2.deliver((e as MessageEvent).data));
  connection.b.control.addEventListener('message', (e) => pair.linkB.deliver((e as MessageEvent).data));
  linkA2.attach(connection.a);
  pair.linkB.attach(connection.b);
  let answerNow = () => {};
  answer = new Promise((resolve) => {
    answerNow = resolve;
  });
  const sentA2: Transfer[] = [];
  const a2 = new FileExchange(linkA2, options, events(sentA2));
  cleanup = () => {
    for (const exchange of [a1, a2, b]) exchange.close('hangup');
  };
  // Ana drops a file right away, before the keeper has answered.
  const small = randomBytes(300 * 1024);
  a2.send(fileOf(small, 'notes.pdf'));
  await new Promise((r) => setTimeout(r, 20));
  answerNow();

  await until(
    () => received.length === 2 && received.every((t) => t.state === 'done'),
    () =>
      `both files done on Bo's side (${received.map((t) => `${t.name} ${t.state}`).join(', ')}; ${problems})`,
  );
  expect(problems).toEqual([]);
  const byName = new Map(received.map((t) => [t.name, t]));
  expect(sha(new Uint8Array(await byName.get('big.bin')!.file!.arrayBuffer()))).toBe(sha(big));
  expect(sha(new Uint8Array(await byName.get('notes.pdf')!.file!.arrayBuffer()))).toBe(sha(small));
  await until(
    () => sentA2.length === 2 && sentA2.every((t) => t.state === 'done'),
    () => `both done on Ana's side (${sentA2.map((t) => `${t.name} ${t.state}`).join(', ')})`,
  );
}, 40_000);
