import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { iceServersFor, turnCredential, turnUsername } from './turn-credentials.ts';

describe('TURN REST credentials', () => {
  it('matches the coturn formula base64(HMAC-SHA1(secret, username))', () => {
    // Independent computation of the same formula coturn checks.
    const expected = createHmac('sha1', 'north').update('1700000000:alice').digest('base64');
    expect(turnCredential('north', '1700000000:alice')).toBe(expected);
  });

  it('puts the expiry first, TTL seconds after now, then an opaque id', () => {
    const username = turnUsername(1_700_000_000_500, 3600);
    const [expiry, id] = username.split(':');
    expect(Number(expiry)).toBe(1_700_003_600);
    expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
  });

  it('gives STUN only when no TURN secret is configured, nothing at all by default', () => {
    expect(iceServersFor({ stunUrls: [], turnUrls: [], turnSecret: null, turnTtlSec: 60 }, 0)).toEqual([]);
    expect(
      iceServersFor({ stunUrls: ['stun:a:3478'], turnUrls: ['turn:a'], turnSecret: null, turnTtlSec: 60 }, 0),
    ).toEqual([{ urls: ['stun:a:3478'] }]);
  });

  it('hands out a fresh username per call with a valid HMAC', () => {
    const config = { stunUrls: [], turnUrls: ['turn:t:3478'], turnSecret: 's3cret', turnTtlSec: 600 };
    const [a] = iceServersFor(config, Date.now());
    const [b] = iceServersFor(config, Date.now());
    expect(a?.username).not.toBe(b?.username);
    expect(a?.credential).toBe(turnCredential('s3cret', a?.username ?? ''));
  });
});
