import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { SignalOutSchema } from '../src/protocol/signaling.ts';
import { decodeClientMessage, isSignalMessage } from './client-message.ts';

const PEER = 'AAAAAAAAAAAAAAAAAAAAAA';
const ROOM = 'room_room_room_room_ro';

/** Values close to a valid signal: right shape with one part bent, or extra/missing keys. */
const nearSignal = fc
  .record(
    {
      v: fc.oneof(fc.constant(1), fc.constant(2), fc.constant('1'), fc.constant(null)),
      type: fc.oneof(fc.constant('signal'), fc.constant('join'), fc.constant('Signal'), fc.string()),
      to: fc.oneof(
        fc.constant(PEER),
        fc.constant(`${PEER}A`),
        fc.constant(PEER.slice(1)),
        fc.constant('AAAAAAAAAAAAAAAAAAAAA+'),
        fc.stringMatching(/^[A-Za-z0-9_\-+/=. ]{20,24}$/),
        fc.integer(),
      ),
      data: fc.jsonValue(),
      extra: fc.jsonValue(),
      __proto__: fc.jsonValue(),
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.parse(JSON.stringify(o)) as unknown);

describe('the hand-written signal check', () => {
  it('accepts exactly what SignalOutSchema accepts (near-valid values)', () => {
    fc.assert(
      fc.property(nearSignal, (raw) => {
        expect(isSignalMessage(raw)).toBe(v.safeParse(SignalOutSchema, raw).success);
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts exactly what SignalOutSchema accepts (any JSON)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        expect(isSignalMessage(raw)).toBe(v.safeParse(SignalOutSchema, raw).success);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a "__proto__" key smuggled in by JSON, as the schema does', () => {
    const raw = JSON.parse(`{"v":1,"type":"signal","to":"${PEER}","data":1,"__proto__":{}}`);
    expect(isSignalMessage(raw)).toBe(false);
    expect(v.safeParse(SignalOutSchema, raw).success).toBe(false);
  });
});

describe('decodeClientMessage', () => {
  it.each([
    ['{', 'bad-json'],
    ['[]', 'bad-message'],
    ['"join"', 'bad-message'],
    ['{"type":"ping"}', 'bad-message'],
    ['{"v":2,"type":"ping"}', 'unsupported-version'],
    ['{"v":1,"type":"dance"}', 'bad-message'],
    ['{"v":1,"type":"join","room":"short"}', 'bad-message'],
    [`{"v":1,"type":"join","room":"${ROOM}","x":1}`, 'bad-message'],
    ['{"v":1,"type":"signal","to":"nope","data":1}', 'bad-message'],
  ])('%s → %s', (text, code) => {
    const decoded = decodeClientMessage(text);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) {
      expect(decoded.code).toBe(code);
      expect(decoded.message).toMatch(/^[A-Z].+\.$/);
    }
  });

  it('decodes every valid message type', () => {
    for (const text of [
      `{"v":1,"type":"join","room":"${ROOM}"}`,
      `{"v":1,"type":"join","room":"${ROOM}","resume":{"peerId":"${PEER}","token":"${PEER}"}}`,
      `{"v":1,"type":"signal","to":"${PEER}","data":{"sdp":"v=0"}}`,
      '{"v":1,"type":"leave"}',
      '{"v":1,"type":"ping"}',
    ]) {
      expect(decodeClientMessage(text).ok).toBe(true);
    }
  });
});
