import { describe, expect, it } from 'vitest';
import { fromHex } from './bytes.ts';
import { ringCallSecret } from './ring-secret.ts';

const pair = fromHex('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff');

describe('ringCallSecret', () => {
  it('is a link-shaped secret, the same for both contacts, new for every call id', async () => {
    const a = await ringCallSecret(pair, 'AAAAAAAAAAAAAAAAAAAAAA');
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await ringCallSecret(pair, 'AAAAAAAAAAAAAAAAAAAAAA')).toBe(a);
    expect(await ringCallSecret(pair, 'AAAAAAAAAAAAAAAAAAAAAQ')).not.toBe(a);
    const other = fromHex('ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff');
    expect(await ringCallSecret(other, 'AAAAAAAAAAAAAAAAAAAAAA')).not.toBe(a);
  });

  it('matches its fixed vector (HMAC-SHA256, first 16 bytes)', async () => {
    const { createHmac } = await import('node:crypto');
    const expected = createHmac('sha256', Buffer.from(pair))
      .update('parley-ring-secret-v1|AAAAAAAAAAAAAAAAAAAAAA')
      .digest()
      .subarray(0, 16)
      .toString('base64url');
    expect(await ringCallSecret(pair, 'AAAAAAAAAAAAAAAAAAAAAA')).toBe(expected);
  });
});
