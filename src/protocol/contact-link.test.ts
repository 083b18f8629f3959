import { describe, expect, it } from 'vitest';
import { linkRoom, linkSecrets, open, seal } from '../identity/contact-link.ts';
import { ALICE_KEY, BOB_KEY } from '../identity/test-vectors.ts';
import { formatContactLink, parseContactLink } from './contact-link.ts';

const TOKEN = 'AAECAwQFBgcICQoLDA0ODw';
const SIG = `${'A'.repeat(85)}A`;
const NONCE = `${'q'.repeat(42)}o`;

describe('contact links', () => {
  it('round-trips through its text form, the name percent-encoded in the fragment', () => {
    const link = { server: 'https://parley.example/sub', key: ALICE_KEY, token: TOKEN, name: 'Ána & Co' };
    const text = formatContactLink(link);
    expect(text).toBe(`https://parley.example/sub/c#k=${ALICE_KEY}&t=${TOKEN}&n=%C3%81na+%26+Co`);
    expect(parseContactLink(text)).toEqual(link);
  });

  it('refuses anything else: call links, damaged keys or tokens, other schemes', () => {
    const good = formatContactLink({
      server: 'http://localhost:8787',
      key: ALICE_KEY,
      token: TOKEN,
      name: '',
    });
    expect(parseContactLink(good)?.key).toBe(ALICE_KEY);
    for (const bad of [
      'http://localhost:8787/r/q3Yx0Jm2lS1m3Uu9Yw0h3A#secretsecretsecretsecret',
      good.replace(ALICE_KEY, ALICE_KEY.slice(1)),
      good.replace(TOKEN, `${TOKEN.slice(0, 21)}B`),
      good.replace('http:', 'javascript:'),
      good.replace('/c#', '/x#'),
      good.split('#')[0] ?? '',
      `${good}&n=second`,
      formatContactLink({
        server: 'http://localhost:8787',
        key: ALICE_KEY,
        token: TOKEN,
        name: 'x'.repeat(300),
      }),
      'not a link',
    ]) {
      expect(parseContactLink(bad)).toBeNull();
    }
  });

  it('derives the room from the token (fixed vector) and no room from another token', async () => {
    // SHA-256("parley-contact-link-v1|room|AAECAwQFBgcICQoLDA0ODw"), first 16 bytes, base64url.
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256')
      .update(`parley-contact-link-v1|room|${TOKEN}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    expect(await linkRoom(TOKEN)).toBe(expected);
    expect(await linkRoom('BAECAwQFBgcICQoLDA0ODw')).not.toBe(expected);
  });

  it('opens what it sealed; refuses another token, a changed byte, a wrong shape', async () => {
    const secrets = await linkSecrets(TOKEN);
    // A name long enough that random base64 cannot contain it by chance ('Bo' once did).
    const name = 'Bo Lindqvist-Marchetti';
    const message = { kind: 'request', key: BOB_KEY, name, nonce: NONCE, sig: SIG } as const;
    const sealed = await seal(secrets, message);
    expect(sealed.box).not.toContain(name);
    expect(sealed.box).not.toContain(btoa(name).slice(0, 16));
    expect(await open(secrets, sealed)).toEqual(message);
    expect(await open(await linkSecrets('BAECAwQFBgcICQoLDA0ODw'), sealed)).toBeNull();
    const flipped = `${sealed.box.slice(0, 5)}${sealed.box[5] === 'A' ? 'B' : 'A'}${sealed.box.slice(6)}`;
    expect(await open(secrets, { ...sealed, box: flipped })).toBeNull();
    expect(await open(secrets, { ...sealed, extra: 1 })).toBeNull();
    expect(await open(secrets, 'hello')).toBeNull();
    // Sealed correctly but not a message we know: refused after opening.
    const odd = await seal(secrets, { kind: 'decline', reason: 'used' });
    expect(await open(secrets, odd)).toEqual({ kind: 'decline', reason: 'used' });
    const forgedShape = await seal(secrets, {
      kind: 'request',
      key: 'nope',
      name: '',
      nonce: NONCE,
      sig: SIG,
    } as never);
    expect(await open(secrets, forgedShape)).toBeNull();
  });
});
