import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('has safe defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8787,
      host: '0.0.0.0',
      allowedOrigins: ['chrome-extension://*', 'moz-extension://*'],
      allowNoOrigin: true,
      roomCapacity: 6,
      maxPayload: 65536,
      heartbeatMs: 25_000,
      resumeGraceMs: 60_000,
      stunUrls: [],
      turnUrls: [],
      turnSecret: null,
      turnTtlSec: 86_400,
      tlsCert: null,
      logLevel: 'info',
    });
    // Dead sockets must go within 60 s: one missed ping interval plus one more.
    expect(c.heartbeatMs * 2).toBeLessThanOrEqual(60_000);
    expect(c.rateLimitBurst).toBeGreaterThanOrEqual(110);
    expect(c.guestDir.endsWith('build/guest')).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      ALLOWED_ORIGINS: 'chrome-extension://abc, https://parley.example',
      ALLOW_NO_ORIGIN: '0',
      ROOM_CAPACITY: '8',
      MAX_PAYLOAD: '2048',
      RATE_LIMIT_BURST: '10',
      RATE_LIMIT_PER_SEC: '2.5',
      MAX_CONNECTIONS_PER_IP: '3',
      HEARTBEAT_MS: '100',
      MAX_BUFFERED_BYTES: '4096',
      RESUME_GRACE_MS: '0',
      STUN_URLS: 'stun:a:3478,stun:b:3478',
      TURN_URLS: 'turns:t:5349',
      TURN_SECRET: 'x',
      TURN_TTL: '600',
      LOG_LEVEL: 'WARN',
      GUEST_DIR: '/srv/guest',
    });
    expect(c).toMatchObject({
      port: 0,
      host: '127.0.0.1',
      allowedOrigins: ['chrome-extension://abc', 'https://parley.example'],
      allowNoOrigin: false,
      roomCapacity: 8,
      maxPayload: 2048,
      rateLimitBurst: 10,
      rateLimitStrikes: 10,
      rateLimitPerSec: 2.5,
      maxConnectionsPerIp: 3,
      heartbeatMs: 100,
      maxBufferedBytes: 4096,
      resumeGraceMs: 0,
      stunUrls: ['stun:a:3478', 'stun:b:3478'],
      turnUrls: ['turns:t:5349'],
      turnSecret: 'x',
      turnTtlSec: 600,
      logLevel: 'warn',
      guestDir: '/srv/guest',
    });
    expect(loadConfig({ ALLOWED_ORIGINS: '' }).allowedOrigins).toEqual([]);
    expect(loadConfig({ REDIS_URL: 'rediss://:pw@r.internal:6380/2', REDIS_PREFIX: 'p1:' })).toMatchObject({
      redisUrl: 'rediss://:pw@r.internal:6380/2',
      redisPrefix: 'p1:',
      redisTimeoutMs: 3000,
    });
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT must be a whole number/],
    [{ PORT: '70000' }, /PORT must be between/],
    [{ TURN_TTL: '90000' }, /TURN_TTL must be between 60 and 86400/],
    [{ TURN_SECRET: 'x' }, /TURN_URLS is empty/],
    [{ TURN_URLS: 'http://t' }, /must start with turn: or turns:/],
    [{ STUN_URLS: 'turn:x' }, /must start with stun:/],
    [{ TLS_CERT: '/a.pem' }, /TLS_CERT and TLS_KEY must be set together/],
    [{ ALLOWED_ORIGINS: 'https://a.example/path' }, /is not an origin/],
    [{ ALLOW_NO_ORIGIN: 'maybe' }, /ALLOW_NO_ORIGIN must be 1 or 0/],
    [{ RATE_LIMIT_PER_SEC: '-1' }, /positive/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL must look like redis:\/\/host:6379/],
    [{ REDIS_URL: 'redis://x', REDIS_PREFIX: 'a b' }, /REDIS_PREFIX may hold/],
  ])('refuses %o with a sentence saying what is wrong', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reads the presence settings and refuses a PUBLIC_ORIGIN that is not an origin', () => {
    expect(loadConfig({})).toMatchObject({ publicOrigin: null, ringBurst: 10, ringPerMin: 6 });
    expect(
      loadConfig({ PUBLIC_ORIGIN: 'https://parley.example/', RING_BURST: '3', RING_PER_MIN: '0.5' }),
    ).toMatchObject({ publicOrigin: 'https://parley.example', ringBurst: 3, ringPerMin: 0.5 });
    expect(() => loadConfig({ PUBLIC_ORIGIN: 'https://parley.example/path' })).toThrow(
      'must be an http(s) origin',
    );
    expect(() => loadConfig({ PUBLIC_ORIGIN: 'parley.example' })).toThrow('is not a URL');
    expect(() => loadConfig({ PUBLIC_ORIGIN: 'ftp://parley.example' })).toThrow('must be an http(s) origin');
  });
});
