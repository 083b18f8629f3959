import { describe, expect, it } from 'vitest';
import { fromBase64Url, fromHex, toBase64Url, toHex } from './bytes.ts';
import { keyFingerprint } from './fingerprint.ts';
import { generateIdentity, identityFromSeed, signText, verifyText } from './keys.ts';
import { ALICE_KEY, ALICE_SEED, BOB_KEY, BOB_SEED } from './test-vectors.ts';

describe('identity keys (Ed25519, WebCrypto)', () => {
  it('matches RFC 8032 test 1: public key and the signature of the empty message', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    expect(toHex(fromBase64Url(alice.publicKey) ?? new Uint8Array())).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(alice.publicKey).toBe(ALICE_KEY);
    const sig = await signText(alice, '');
    expect(toHex(fromBase64Url(sig) ?? new Uint8Array())).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(await verifyText(ALICE_KEY, '', sig)).toBe(true);
    expect((await identityFromSeed(BOB_SEED)).publicKey).toBe(BOB_KEY);
  });

  it('generates a key pair whose private half cannot be exported', async () => {
    const me = await generateIdentity();
    expect(me.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('pkcs8', me.privateKey)).rejects.toThrow();
    expect(me.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const sig = await signText(me, 'hello');
    expect(await verifyText(me.publicKey, 'hello', sig)).toBe(true);
  });

  it('refuses a signature over other text, by another key, or altered by one bit', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    const sig = await signText(alice, 'parley-test|a');
    expect(await verifyText(ALICE_KEY, 'parley-test|b', sig)).toBe(false);
    expect(await verifyText(BOB_KEY, 'parley-test|a', sig)).toBe(false);
    const bytes = fromBase64Url(sig) ?? new Uint8Array(64);
    bytes[10] = (bytes[10] as number) ^ 1;
    expect(await verifyText(ALICE_KEY, 'parley-test|a', toBase64Url(bytes))).toBe(false);
  });

  it('answers false, never throws, for malformed keys and signatures', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    const sig = await signText(alice, 'x');
    for (const key of ['', 'short', `${ALICE_KEY}A`, ALICE_KEY.replace(/.$/, 'B'), '!'.repeat(43)]) {
      expect(await verifyText(key, 'x', sig)).toBe(false);
    }
    for (const bad of ['', sig.slice(1), `${sig}A`, sig.replace(/.$/, 'B')]) {
      expect(await verifyText(ALICE_KEY, 'x', bad)).toBe(false);
    }
    // 32 bytes that are not a point on the curve.
    const notAPoint = toBase64Url(fromHex('02'.padEnd(64, 'f')));
    expect(await verifyText(notAPoint, 'x', sig)).toBe(false);
  });
});

describe('key fingerprint', () => {
  it('is four groups of five digits, fixed for a known key', async () => {
    expect(await keyFingerprint(ALICE_KEY)).toBe('97378 62408 52674 51051');
    expect(await keyFingerprint(BOB_KEY)).toBe('35199 80590 94843 50374');
  });

  it('refuses text that is not a public key', async () => {
    await expect(keyFingerprint('not-a-key')).rejects.toThrow('Not a Parley public key.');
  });
});
