/**
 * Property-based fuzzing of the live server: random JSON, near-valid messages and random
 * bytes. After every batch the server must still answer, every reply must be a well-formed
 * server message, every invalid message must get an error, and valid traffic must still flow.
 */
import fc from 'fast-check';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientMessageSchema, parseServerMessage } from '../../src/protocol/signaling.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, PEER_A, TestClient } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer({
    RATE_LIMIT_BURST: '1000000',
    RATE_LIMIT_PER_SEC: '1000000',
    ROOM_CAPACITY: '3',
  });
});
afterAll(async () => {
  await server.stop();
});

const room = newRoom();

function nearValid(peerId: string) {
  const value = fc.oneof(
    fc.jsonValue(),
    fc.constant(undefined),
    fc.constant(peerId),
    fc.constant(room),
    fc.constant(PEER_A),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );
  return fc
    .record(
      {
        v: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, fc.jsonValue()),
        type: fc.oneof(
          fc.constantFrom('join', 'signal', 'leave', 'ping', 'pong', 'joined', 'error'),
          fc.string(),
        ),
        room: fc.oneof(fc.constant(room), value),
        to: fc.oneof(fc.constant(peerId), value),
        data: value,
        resume: fc.oneof(fc.record({ peerId: fc.constant(peerId), token: fc.string() }), value),
        extra: value,
      },
      { requiredKeys: ['v', 'type'] },
    )
    .map((o) => JSON.stringify(o));
}

type Input = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array };

function inputs(peerId: string): fc.Arbitrary<Input> {
  return fc.oneof(
    nearValid(peerId).map((text) => ({ kind: 'text' as const, text })),
    fc.json().map((text) => ({ kind: 'text' as const, text })),
    fc.string({ unit: 'grapheme', maxLength: 200 }).map((text) => ({ kind: 'text' as const, text })),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'binary' as const, bytes })),
  );
}

function isValidClientMessage(text: string): boolean {
  try {
    return v.safeParse(ClientMessageSchema, JSON.parse(text)).success;
  } catch {
    return false;
  }
}

describe('fuzzing the live server', () => {
  it('stays up, answers every invalid message with an error, and keeps relaying', async () => {
    const { client: peer, joined: peerJoined } = await TestClient.joined(server.url, room);
    let fuzzer = await TestClient.open(server.url);
    fuzzer.send({ v: 1, type: 'join', room });
    await fuzzer.next('joined');

    await fc.assert(
      fc.asyncProperty(fc.array(inputs(peerJoined.peerId), { minLength: 1, maxLength: 6 }), async (batch) => {
        if (fuzzer.ws.readyState !== fuzzer.ws.OPEN) fuzzer = await TestClient.open(server.url);
        for (const input of batch) {
          const before = fuzzer.received.length;
          if (input.kind === 'binary') fuzzer.sendRaw(Buffer.from(input.bytes), true);
          else fuzzer.sendRaw(input.text);
          const replies = await fuzzer.drain();
          expect(fuzzer.received.length).toBeGreaterThan(before);
          for (const reply of replies) expect(parseServerMessage(JSON.stringify(reply))).not.toBeNull();
          const valid = input.kind === 'text' && isValidClientMessage(input.text);
          if (!valid) expect(replies.some((r) => r.type === 'error')).toBe(true);
        }
      }),
      { numRuns: 300 },
    );

    // Everything the bystander got was well-formed too.
    for (const msg of peer.received) expect(parseServerMessage(JSON.stringify(msg))).not.toBeNull();

    // Invalid UTF-8 in a text frame is a protocol error: that socket goes, the server stays.
    const broken = await TestClient.open(server.url);
    broken.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), false);
    expect((await broken.closed).code).toBe(1007);

    // A fresh pair still relays.
    const pairRoom = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(server.url, pairRoom);
    const { client: b } = await TestClient.joined(server.url, pairRoom);
    b.send({ v: 1, type: 'signal', to: ja.peerId, data: { after: 'fuzz' } });
    expect(await a.next('signal')).toMatchObject({ data: { after: 'fuzz' } });
    expect(server.process.exitCode).toBeNull();
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
    for (const c of [a, b, peer, fuzzer]) c.close();
  });
});
