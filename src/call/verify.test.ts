import { describe, expect, it } from 'vitest';
import { deriveAuthKey, fingerprintLines, signDescription, verifyDescription } from './verify.ts';

const FP_A =
  'a=fingerprint:sha-256 3E:1A:9C:0B:77:12:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD';
const FP_EVIL =
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF';

function sdp(fingerprint: string): string {
  return [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:abcd',
    'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    fingerprint,
    'a=setup:actpass',
    'a=mid:0',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    fingerprint,
    'a=mid:1',
    '',
  ].join('\r\n');
}

const ALICE = 'AAAAAAAAAAAAAAAAAAAAAA';
const BOB = 'BBBBBBBBBBBBBBBBBBBBBB';
const SECRET = 'c2VjcmV0LXNlY3JldC1zZWNyZXQ';

describe('description auth (DTLS fingerprints bound to the link secret)', () => {
  it('accepts a description signed by the holder of the same secret', async () => {
    const key = await deriveAuthKey(SECRET);
    const auth = await signDescription(key, ALICE, sdp(FP_A));
    expect(auth).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const receiverKey = await deriveAuthKey(SECRET);
    expect(await verifyDescription(receiverKey, ALICE, sdp(FP_A), auth)).toBe(true);
  });

  it('refuses a description whose fingerprint was swapped by a man in the middle', async () => {
    const key = await deriveAuthKey(SECRET);
    const auth = await signDescription(key, ALICE, sdp(FP_A));
    expect(await verifyDescription(key, ALICE, sdp(FP_EVIL), auth)).toBe(false);
  });

  it('refuses an extra fingerprint added next to the genuine one', async () => {
    const key = await deriveAuthKey(SECRET);
    const auth = await signDescription(key, ALICE, sdp(FP_A));
    expect(await verifyDescription(key, ALICE, sdp(`${FP_A}\r\n${FP_EVIL}`), auth)).toBe(false);
  });

  it('refuses our own description reflected back as if the other peer sent it', async () => {
    const key = await deriveAuthKey(SECRET);
    const auth = await signDescription(key, ALICE, sdp(FP_A));
    expect(await verifyDescription(key, BOB, sdp(FP_A), auth)).toBe(false);
  });

  it('refuses a description signed with another secret', async () => {
    const auth = await signDescription(
      await deriveAuthKey('another-secret-another-secret'),
      ALICE,
      sdp(FP_A),
    );
    expect(await verifyDescription(await deriveAuthKey(SECRET), ALICE, sdp(FP_A), auth)).toBe(false);
  });

  it('refuses a description without any fingerprint, and garbage auth', async () => {
    const key = await deriveAuthKey(SECRET);
    const auth = await signDescription(key, ALICE, sdp(FP_A));
    expect(await verifyDescription(key, ALICE, sdp('a=x'), auth)).toBe(false);
    expect(await verifyDescription(key, ALICE, sdp(FP_A), 'not base64!')).toBe(false);
    expect(await verifyDescription(key, ALICE, sdp(FP_A), 'AAAA')).toBe(false);
    await expect(signDescription(key, ALICE, sdp('a=x'))).rejects.toThrow(/fingerprint/);
  });

  it('does not depend on the order or repetition of the fingerprint lines', () => {
    expect(fingerprintLines(sdp(`${FP_EVIL}\n${FP_A}`))).toEqual([FP_EVIL, FP_A].sort());
    expect(fingerprintLines(sdp(FP_A))).toEqual([FP_A]);
  });
});
