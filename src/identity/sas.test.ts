import { describe, expect, it } from 'vitest';
import type { SasMessage } from '../protocol/peer-identity.ts';
import { parseSasMessage } from '../protocol/peer-identity.ts';
import { toHex } from './bytes.ts';
import { SasExchange, type SasParty, type SasStep, sasBytes, sasCommitment, sasFromBytes } from './sas.ts';
import { ALICE_KEY, BOB_KEY, CALL_ID, FP_ALICE, FP_BOB, FP_MALLORY, sdpWith } from './test-vectors.ts';

const alice: SasParty = { publicKey: ALICE_KEY, sdp: sdpWith(FP_ALICE) };
const bob: SasParty = { publicKey: BOB_KEY, sdp: sdpWith(FP_BOB) };
const NONCE_I = new Uint8Array(32).fill(0x11);
const NONCE_R = new Uint8Array(32).fill(0x22);

describe('SAS derivation (fixed vectors)', () => {
  it('commits to the initiator nonce with a fixed hash', async () => {
    expect(await sasCommitment(CALL_ID, alice, NONCE_I)).toBe('PAM2VL9obVWGJ-rMM_zMdckog5P0BEOdCiNmqzqdreM');
  });

  it('derives fixed bytes, emoji and digits for known keys, fingerprints, nonces and call id', async () => {
    const bytes = await sasBytes({
      callId: CALL_ID,
      initiator: alice,
      responder: bob,
      initiatorNonce: NONCE_I,
      responderNonce: NONCE_R,
    });
    expect(toHex(bytes)).toBe('c4a2bdf36512');
    const sas = sasFromBytes(bytes);
    expect(sas.emoji.map((e) => e.name)).toEqual([
      'Telephone',
      'Penguin',
      'Penguin',
      'Headphones',
      'Anchor',
      'Rocket',
      'Moon',
    ]);
    expect(sas.emoji.map((e) => e.emoji).join('')).toBe('☎️🐧🐧🎧⚓🚀🌙');
    expect(sas.digits).toEqual(['7292', '3807', '7578']);
  });

  it('maps the extremes of the byte range to the ends of the tables', () => {
    expect(sasFromBytes(new Uint8Array(6)).digits).toEqual(['1000', '1000', '1000']);
    expect(sasFromBytes(new Uint8Array(6).fill(0xff)).digits).toEqual(['9191', '9191', '9191']);
    expect(sasFromBytes(new Uint8Array(6).fill(0xff)).emoji.map((e) => e.name)).toEqual(Array(7).fill('Pin'));
    expect(sasFromBytes(new Uint8Array(6)).emoji.map((e) => e.name)).toEqual(Array(7).fill('Dog'));
  });
});

/** Runs both exchanges until no more messages flow; `tamper` may rewrite messages in flight. */
async function run(
  a: SasExchange,
  b: SasExchange,
  first: 'a' | 'b',
  tamper: (m: SasMessage, to: 'a' | 'b') => SasMessage = (m) => m,
): Promise<{ a: SasStep[]; b: SasStep[] }> {
  const steps = { a: [] as SasStep[], b: [] as SasStep[] };
  const queue: { to: 'a' | 'b'; message: SasMessage }[] = [];
  const started = await (first === 'a' ? a : b).start();
  steps[first].push(started);
  for (const m of started.send) queue.push({ to: first === 'a' ? 'b' : 'a', message: m });
  while (queue.length > 0) {
    const { to, message } = queue.shift() as { to: 'a' | 'b'; message: SasMessage };
    // Every message crosses the data channel as JSON and is validated on arrival.
    const parsed = parseSasMessage(JSON.parse(JSON.stringify(tamper(message, to))));
    expect(parsed).not.toBeNull();
    const step = await (to === 'a' ? a : b).receive(parsed as SasMessage);
    steps[to].push(step);
    for (const m of step.send) queue.push({ to: to === 'a' ? 'b' : 'a', message: m });
  }
  return steps;
}

const resultOf = (steps: SasStep[]) => steps.find((s) => s.sas !== undefined)?.sas;

describe('SAS exchange (commit, nonce, reveal)', () => {
  it('shows both people the same string, whoever presses Verify first', async () => {
    for (const first of ['a', 'b'] as const) {
      const a = new SasExchange({ callId: CALL_ID, self: alice, peer: bob }, NONCE_I);
      const b = new SasExchange({ callId: CALL_ID, self: bob, peer: alice }, NONCE_R);
      expect([a.role, b.role]).toEqual(['initiator', 'responder']);
      const steps = await run(a, b, first);
      expect(resultOf(steps.a)?.digits).toEqual(['7292', '3807', '7578']);
      expect(resultOf(steps.b)).toEqual(resultOf(steps.a));
    }
  });

  it('shows different strings when a server swapped a certificate (each side sees other fingerprints)', async () => {
    const mitmBob = { ...bob, sdp: sdpWith(FP_MALLORY) };
    const a = new SasExchange({ callId: CALL_ID, self: alice, peer: mitmBob });
    const b = new SasExchange({ callId: CALL_ID, self: bob, peer: alice });
    const steps = await run(a, b, 'a');
    const [sa, sb] = [resultOf(steps.a), resultOf(steps.b)];
    expect(sa).toBeDefined();
    expect(sb).toBeDefined();
    expect(sa).not.toEqual(sb);
  });

  it('fails when the revealed nonce does not match the commitment (an attacker changing its mind)', async () => {
    const a = new SasExchange({ callId: CALL_ID, self: alice, peer: bob }, NONCE_I);
    const b = new SasExchange({ callId: CALL_ID, self: bob, peer: alice }, NONCE_R);
    const other = 'MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM';
    const steps = await run(a, b, 'a', (m, to) =>
      to === 'b' && m.t === 'sas-reveal' ? { ...m, nonce: other } : m,
    );
    expect(steps.b.at(-1)).toEqual({ send: [], failure: 'commitment-mismatch' });
    expect(resultOf(steps.b)).toBeUndefined();
  });

  it('fails on a message out of order (a reveal before any commitment)', async () => {
    const b = new SasExchange({ callId: CALL_ID, self: bob, peer: alice });
    expect(
      await b.receive({ t: 'sas-reveal', nonce: 'ERERERERERERERERERERERERERERERERERERERERERE' }),
    ).toEqual({
      send: [],
      failure: 'unexpected-message',
    });
  });
});
