import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { SignalOutSchema } from '../src/protocol/signaling.ts';
import { decodeClientMessage, isSignalMessage, rawSignalData } from './client-message.ts';
import { relayedSignalFrame } from './frames.ts';

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

describe('forwarding the raw data text of a signal', () => {
  /** What the receiver parses from the relayed frame must equal what the sender meant. */
  function relayedEqualsParsed(text: string): void {
    const decoded = decodeClientMessage(text);
    if (!decoded.ok || decoded.message.type !== 'signal') return;
    const raw = rawSignalData(text, decoded.message.to);
    if (raw === null) return;
    const relayed = `{"v":1,"type":"signal","from":"${PEER}","data":${raw}}`;
    expect(JSON.stringify(JSON.parse(relayed))).toBe(
      JSON.stringify({ v: 1, type: 'signal', from: PEER, data: decoded.message.data }),
    );
  }

  it('gives exactly the data of canonical frames', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (data) => {
        const text = JSON.stringify({ v: 1, type: 'signal', to: PEER, data });
        const raw = rawSignalData(text, PEER);
        // null (slow path) only for the rare texts holding "to" or a \u escape.
        if (raw === null) expect(/"to"|\\u/.test(text.slice(60))).toBe(true);
        else expect(raw).toBe(JSON.stringify(data));
        relayedEqualsParsed(text);
      }),
      { numRuns: 3000 },
    );
  });

  it('never changes what the receiver parses, even with duplicate keys and odd spacing', () => {
    const prefix = `{"v":1,"type":"signal","to":"${PEER}","data":`;
    const tail = fc.constantFrom(
      '',
      ',"v":1',
      ',"type":"signal"',
      `,"to":"${PEER}"`,
      `,"to":"${'B'.repeat(22)}"`,
      ',"data":2',
      ',"d\u0061ta":3',
      `,"t\u006f":"${PEER}"`,
      ' ',
      ',"from":"x"',
    );
    fc.assert(
      fc.property(fc.json(), tail, tail, (data, t1, t2) =>
        relayedEqualsParsed(`${prefix}${data}${t1}${t2}}`),
      ),
      { numRuns: 3000 },
    );
  });

  it('builds the relayed frame byte for byte: what the receiver parses is what the sender meant', () => {
    const FROM = 'Zz_-0123456789abcdefgh';
    const prefix = `{"v":1,"type":"signal","to":"${PEER}","data":`;
    const tail = fc.constantFrom('', ' ', '\n', `,"data":7`, `,"to":"${PEER}"`, ',"v":1');
    const data = fc.oneof(
      fc.jsonValue({ stringUnit: 'grapheme' }).map((d) => JSON.stringify(d)),
      fc.json({ stringUnit: 'binary' }),
    );
    fc.assert(
      fc.property(data, tail, (json, t) => {
        const text = `${prefix}${json}${t}}`;
        // The server only ever sees text decoded from valid UTF-8 (ws checks it): no lone surrogates.
        if (Buffer.from(text).toString() !== text) return;
        const decoded = decodeClientMessage(text);
        if (!decoded.ok || decoded.message.type !== 'signal') return;
        const out = relayedSignalFrame(FROM, Buffer.from(text), text, decoded.message.to);
        if (out === null) return;
        const relayed = out.toString();
        // Exactly the received data bytes behind the new head, and valid UTF-8 throughout.
        expect(relayed).toBe(`{"v":1,"type":"signal","from":"${FROM}","data":${rawSignalData(text, PEER)}}`);
        expect(Buffer.from(relayed).equals(out)).toBe(true);
        expect(JSON.stringify(JSON.parse(relayed))).toBe(
          JSON.stringify({ v: 1, type: 'signal', from: FROM, data: decoded.message.data }),
        );
      }),
      { numRuns: 3000 },
    );
    // 3 000 generated frames take ~1 s alone and several on a loaded 2-core machine.
  }, 30_000);

  it('leaves other key orders to the slow path', () => {
    expect(rawSignalData(`{"type":"signal","v":1,"to":"${PEER}","data":1}`, PEER)).toBeNull();
    expect(rawSignalData(` {"v":1,"type":"signal","to":"${PEER}","data":1}`, PEER)).toBeNull();
  });
});
