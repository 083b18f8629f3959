import { describe, expect, it } from 'vitest';
import { MAX_SDP_LENGTH, parsePeerSignal } from './peer-signal.ts';

const AUTH = 'A'.repeat(43);

describe('peer signal payloads (untrusted, relayed by the server)', () => {
  it('accepts descriptions, candidates and bye', () => {
    expect(
      parsePeerSignal({ kind: 'description', description: { type: 'offer', sdp: 'v=0' }, auth: AUTH }),
    ).not.toBeNull();
    expect(
      parsePeerSignal({
        kind: 'candidate',
        candidate: {
          candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
          usernameFragment: 'ab',
        },
      }),
    ).not.toBeNull();
    expect(parsePeerSignal({ kind: 'candidate', candidate: null })).not.toBeNull();
    expect(parsePeerSignal({ kind: 'bye' })).toEqual({ kind: 'bye' });
  });

  it('drops descriptions without auth, with a bad type, or too large', () => {
    expect(parsePeerSignal({ kind: 'description', description: { type: 'offer', sdp: 'v=0' } })).toBeNull();
    expect(
      parsePeerSignal({ kind: 'description', description: { type: 'rollback', sdp: 'v=0' }, auth: AUTH }),
    ).toBeNull();
    expect(
      parsePeerSignal({
        kind: 'description',
        description: { type: 'offer', sdp: 'x'.repeat(MAX_SDP_LENGTH + 1) },
        auth: AUTH,
      }),
    ).toBeNull();
    expect(
      parsePeerSignal({ kind: 'description', description: { type: 'offer', sdp: 'v=0' }, auth: '<script>' }),
    ).toBeNull();
  });

  it('drops unknown kinds, extra fields and non-objects', () => {
    expect(parsePeerSignal({ kind: 'exec', code: 'x' })).toBeNull();
    expect(parsePeerSignal({ kind: 'bye', extra: 1 })).toBeNull();
    expect(parsePeerSignal('bye')).toBeNull();
    expect(parsePeerSignal(null)).toBeNull();
    expect(parsePeerSignal({ kind: 'candidate', candidate: { candidate: 'x'.repeat(5000) } })).toBeNull();
    expect(
      parsePeerSignal({ kind: 'candidate', candidate: { candidate: 'c', sdpMLineIndex: -1 } }),
    ).toBeNull();
  });
});
