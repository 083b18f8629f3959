/**
 * Server configuration, read once from the environment at start-up.
 *
 * | Variable                | Default            | Meaning |
 * |-------------------------|--------------------|---------|
 * | `PORT`                  | `8787`             | TCP port; `0` picks any free port (the `listening` log line says which). |
 * | `HOST`                  | `0.0.0.0`          | Interface to bind; `0.0.0.0` so phones/laptops on the LAN can reach it, `127.0.0.1` for local only. |
 * | `ALLOWED_ORIGINS`       | `chrome-extension://*,moz-extension://*` | Comma-separated WebSocket `Origin`s allowed besides the server's own guest page. `*` matches one host label run (`chrome-extension://*` = any extension). Pin your Chrome extension id in production: `chrome-extension://<id>` (Firefox gives each install its own random `moz-extension://<uuid>`, so Firefox users need `moz-extension://*`). |
 * | `ALLOW_NO_ORIGIN`       | `1`                | `1` lets clients without an `Origin` header (non-browser tools) connect; browsers always send one. `0` refuses them. |
 * | `ROOM_CAPACITY`         | `6`                | Live peers per room; the next joiner gets `room-full`. |
 * | `MAX_PAYLOAD`           | `65536`            | Largest WebSocket message in bytes; larger frames close the socket with 1009. |
 * | `RATE_LIMIT_BURST`      | `200`              | Token-bucket size per connection (messages): a call setup (2 SDPs + ~100 ICE candidates) fits. |
 * | `RATE_LIMIT_PER_SEC`    | `20`               | Token refill per second per connection. |
 * | `RATE_LIMIT_STRIKES`    | `RATE_LIMIT_BURST` | Messages dropped within 10 s after which the connection is closed (4008). |
 * | `MAX_CONNECTIONS_PER_IP`| `50`               | Open WebSockets per client IP; more get HTTP 429 at the upgrade. |
 * | `TRUST_PROXY`           | `0`                | `1`: the client IP is the last `X-Forwarded-For` entry (set only behind your own reverse proxy). |
 * | `HEARTBEAT_MS`          | `25000`            | Ping interval; a socket that misses one full interval is terminated (dead sockets go within 2×, 50 s by default). |
 * | `MAX_BUFFERED_BYTES`    | `1048576`          | Outgoing bytes queued for one client before it is closed as a slow consumer (4009). |
 * | `RESUME_GRACE_MS`       | `60000`            | How long a peer id can be reclaimed with its resume token after its socket went away. |
 * | `STUN_URLS`             | (none)             | Comma-separated `stun:` URLs handed to clients. None by default: loopback and LAN calls need none. |
 * | `TURN_URLS`             | (none)             | Comma-separated `turn:`/`turns:` URLs. With `TURN_SECRET`, clients get time-limited TURN REST credentials. |
 * | `TURN_SECRET`           | (none)             | Shared secret with the TURN server (coturn `static-auth-secret`). |
 * | `TURN_TTL`              | `86400`            | Lifetime of TURN credentials in seconds (at most 86400 = 24 h). |
 * | `TLS_CERT` / `TLS_KEY`  | (none)             | Paths to a PEM certificate and key: the server then speaks https/wss. Both or neither. |
 * | `LOG_LEVEL`             | `info`             | pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`. |
 * | `GUEST_DIR`             | `build/guest`      | The built guest page (`npm run build`), served at `/r/:room` and `/guest/*`. |
 * | `SHUTDOWN_GRACE_MS`     | `3000`             | On SIGTERM/SIGINT, how long clients get to close before they are cut. |
 * | `PUBLIC_ORIGIN`         | (from `Host`)      | This server's origin as clients reach it (`https://parley.example`): presence proofs must name it. Unset: the origin the client connected to (scheme + `Host` header). Set it in production. |
 * | `RING_BURST`            | `10`               | Rings one key (and, separately, one client IP) may send at once. |
 * | `RING_PER_MIN`          | `6`                | Ring tokens refilled per minute, per key and per IP. |
 * | `REDIS_URL`             | (none)             | `redis://[:password@]host:port[/db]` (or `rediss://`): rooms live in Redis and any number of nodes behind a load balancer serve any client. None: rooms in memory (one process). |
 * | `REDIS_PREFIX`          | `parley:`          | Prefix of every Redis key and channel (several deployments can share one Redis). |
 * | `REDIS_TIMEOUT_MS`      | `3000`             | A join that Redis has not answered within this gets `unavailable`. |
 */
import path from 'node:path';

export interface ServerConfig {
  port: number;
  host: string;
  allowedOrigins: string[];
  allowNoOrigin: boolean;
  roomCapacity: number;
  maxPayload: number;
  rateLimitBurst: number;
  rateLimitPerSec: number;
  rateLimitStrikes: number;
  maxConnectionsPerIp: number;
  trustProxy: boolean;
  heartbeatMs: number;
  maxBufferedBytes: number;
  resumeGraceMs: number;
  stunUrls: string[];
  turnUrls: string[];
  turnSecret: string | null;
  turnTtlSec: number;
  tlsCert: string | null;
  tlsKey: string | null;
  logLevel: string;
  guestDir: string;
  shutdownGraceMs: number;
  publicOrigin: string | null;
  ringBurst: number;
  ringPerMin: number;
  redisUrl: string | null;
  redisPrefix: string;
  redisTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}".`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}.`);
  }
  return value;
}

function positive(env: Env, name: string, fallback: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number.`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = text(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be 1 or 0, got "${raw}".`);
}

function list(env: Env, name: string): string[] {
  return (text(env, name) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function urls(env: Env, name: string, schemes: string[]): string[] {
  const values = list(env, name);
  for (const value of values) {
    const scheme = value.split(':', 1)[0] ?? '';
    if (!schemes.includes(scheme)) {
      throw new ConfigError(
        `${name}: "${value}" must start with ${schemes.map((s) => `${s}:`).join(' or ')}.`,
      );
    }
  }
  return values;
}

function origins(env: Env): string[] {
  const raw =
    env.ALLOWED_ORIGINS === undefined ? 'chrome-extension://*,moz-extension://*' : env.ALLOWED_ORIGINS;
  const values = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const value of values) {
    if (!/^[a-z][a-z0-9+.-]*:\/\/[A-Za-z0-9.*:[\]-]+$/.test(value)) {
      throw new ConfigError(
        `ALLOWED_ORIGINS: "${value}" is not an origin (scheme://host[:port], no path, e.g. chrome-extension://abcdef...).`,
      );
    }
  }
  return values;
}

function publicOrigin(env: Env): string | null {
  const raw = text(env, 'PUBLIC_ORIGIN');
  if (raw === undefined) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PUBLIC_ORIGIN: "${raw}" is not a URL (e.g. https://parley.example).`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== raw.replace(/\/$/, '')) {
    throw new ConfigError(
      `PUBLIC_ORIGIN: "${raw}" must be an http(s) origin, no path (e.g. https://parley.example).`,
    );
  }
  return url.origin;
}

export function loadConfig(env: Env = process.env): ServerConfig {
  const burst = int(env, 'RATE_LIMIT_BURST', 200, 1, 1_000_000_000);
  const tlsCert = text(env, 'TLS_CERT') ?? null;
  const tlsKey = text(env, 'TLS_KEY') ?? null;
  if ((tlsCert === null) !== (tlsKey === null)) {
    throw new ConfigError('TLS_CERT and TLS_KEY must be set together (paths to PEM files).');
  }
  const turnUrls = urls(env, 'TURN_URLS', ['turn', 'turns']);
  const turnSecret = text(env, 'TURN_SECRET') ?? null;
  if (turnSecret !== null && turnUrls.length === 0) {
    throw new ConfigError('TURN_SECRET is set but TURN_URLS is empty: set both or neither.');
  }
  const redisUrl = text(env, 'REDIS_URL') ?? null;
  if (redisUrl !== null && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    throw new ConfigError('REDIS_URL must look like redis://host:6379 (or rediss:// for TLS).');
  }
  const redisPrefix = text(env, 'REDIS_PREFIX') ?? 'parley:';
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError('REDIS_PREFIX may hold letters, digits and : _ . - (at most 64).');
  }
  const logLevel = (text(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}.`);
  }
  return {
    port: int(env, 'PORT', 8787, 0, 65535),
    host: text(env, 'HOST') ?? '0.0.0.0',
    allowedOrigins: origins(env),
    allowNoOrigin: bool(env, 'ALLOW_NO_ORIGIN', true),
    roomCapacity: int(env, 'ROOM_CAPACITY', 6, 1, 1000),
    maxPayload: int(env, 'MAX_PAYLOAD', 65536, 1024, 16 * 1024 * 1024),
    rateLimitBurst: burst,
    rateLimitPerSec: positive(env, 'RATE_LIMIT_PER_SEC', 20),
    rateLimitStrikes: int(env, 'RATE_LIMIT_STRIKES', burst, 1, 1_000_000_000),
    maxConnectionsPerIp: int(env, 'MAX_CONNECTIONS_PER_IP', 50, 1, 10_000_000),
    trustProxy: bool(env, 'TRUST_PROXY', false),
    heartbeatMs: int(env, 'HEARTBEAT_MS', 25_000, 10, 3_600_000),
    maxBufferedBytes: int(env, 'MAX_BUFFERED_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
    resumeGraceMs: int(env, 'RESUME_GRACE_MS', 60_000, 0, 3_600_000),
    stunUrls: urls(env, 'STUN_URLS', ['stun', 'stuns']),
    turnUrls,
    turnSecret,
    turnTtlSec: int(env, 'TURN_TTL', 86_400, 60, 86_400),
    tlsCert,
    tlsKey,
    logLevel,
    guestDir: path.resolve(text(env, 'GUEST_DIR') ?? 'build/guest'),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 3000, 0, 60_000),
    publicOrigin: publicOrigin(env),
    ringBurst: int(env, 'RING_BURST', 10, 1, 1_000_000),
    ringPerMin: positive(env, 'RING_PER_MIN', 6),
    redisUrl,
    redisPrefix,
    redisTimeoutMs: int(env, 'REDIS_TIMEOUT_MS', 3000, 100, 60_000),
  };
}
