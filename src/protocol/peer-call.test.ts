import { describe, expect, it } from 'vitest';
import { cleanDisplayName, parsePeerCallMessage } from './peer-call.ts';

describe('call messages on the control channel', () => {
  it('parses hello, media and bye; trims names', () => {
    expect(parsePeerCallMessage(JSON.stringify({ t: 'hello', name: '  Ana  ' }))).toEqual({
      kind: 'call',
      message: { t: 'hello', name: 'Ana' },
    });
    expect(parsePeerCallMessage(JSON.stringify({ t: 'media', audio: false, video: true }))).toEqual({
      kind: 'call',
      message: { t: 'media', audio: false, video: true },
    });
    expect(parsePeerCallMessage('{"t":"bye"}')).toEqual({ kind: 'call', message: { t: 'bye' } });
  });

  it('accepts a well-formed new signaling id only', () => {
    expect(parsePeerCallMessage(JSON.stringify({ t: 'peer-id', peerId: 'A'.repeat(22) })).kind).toBe('call');
    expect(parsePeerCallMessage(JSON.stringify({ t: 'peer-id', peerId: '../x' })).kind).toBe('invalid');
  });

  it('leaves chat and file messages to their owners', () => {
    expect(parsePeerCallMessage(JSON.stringify({ t: 'chat', text: 'hi' }))).toEqual({ kind: 'other' });
    expect(parsePeerCallMessage(JSON.stringify({ t: 'file-offer', id: 1 }))).toEqual({ kind: 'other' });
  });

  it('flags malformed call messages and junk', () => {
    expect(parsePeerCallMessage(JSON.stringify({ t: 'hello', name: 'x'.repeat(65) })).kind).toBe('invalid');
    expect(parsePeerCallMessage(JSON.stringify({ t: 'hello', name: '   ' })).kind).toBe('invalid');
    expect(parsePeerCallMessage(JSON.stringify({ t: 'media', audio: 'yes', video: true })).kind).toBe(
      'invalid',
    );
    expect(parsePeerCallMessage('not json').kind).toBe('invalid');
    expect(parsePeerCallMessage('[1,2]').kind).toBe('invalid');
    expect(parsePeerCallMessage(new ArrayBuffer(4)).kind).toBe('invalid');
  });

  it('cleans display names for showing to a person', () => {
    expect(cleanDisplayName('  Ana\u202e\u0000  María ')).toBe('Ana María');
    expect(cleanDisplayName('   ')).toBe('Guest');
    expect(cleanDisplayName('x'.repeat(100))).toHaveLength(64);
  });
});
