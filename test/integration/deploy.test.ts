/**
 * The files in deploy/ as a person installs them: the systemd unit (checked with
 * systemd-analyze and its command line run), the environment file, coturn's config and the
 * Caddyfile, each started for real on loopback with only ports, paths, the host name and the
 * secret replaced; Caddy serves a certificate from a CA made here with openssl. Redis as
 * section 5 of deploy/README.md sets it up: the env file's `REDIS_URL` line uncommented (its
 * port replaced), two server processes, Caddy's `reverse_proxy` over both. A call's signaling
 * goes through Caddy over wss and its room lives in Redis, and the TURN credentials it hands
 * out are accepted by coturn (and tampered ones are not).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisHandle, startRedis } from '../helpers/redis-process.ts';
import { freePort, ROOT, type ServerHandle, startServer } from '../helpers/server-process.ts';
import { turnAllocate } from '../helpers/turn-allocate.ts';
import { newRoom, TestClient } from './ws-client.ts';

const DEPLOY = path.join(ROOT, 'deploy');
const INSTALL: Record<string, string> = {
  caddy: 'sudo apt-get install -y caddy',
  turnserver: 'sudo apt-get install -y coturn',
  openssl: 'sudo apt-get install -y openssl',
  'systemd-analyze': 'sudo apt-get install -y systemd',
};

function need(bin: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`${bin} is not installed; the deployment test runs it. Install it: ${INSTALL[bin]}`);
  }
}

/** KEY=value lines (comments and blanks skipped), as systemd's EnvironmentFile reads them. */
function envFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

function unitValue(unit: string, key: string): string {
  const m = new RegExp(`^${key}=(.*)$`, 'm').exec(unit);
  if (!m) throw new Error(`${key}= is missing from the unit`);
  return m[1] as string;
}

const tmp = mkdtempSync(path.join(tmpdir(), 'parley-deploy-'));
const SECRET = randomBytes(24).toString('base64url');
const children: ChildProcess[] = [];
let servers: ServerHandle[] = [];
let redis: RedisHandle;
let caPem: Buffer;
let httpsPort: number;
let turnPort: number;
const logs: { caddy: string; turn: string } = { caddy: '', turn: '' };

function run(
  name: 'caddy' | 'turn',
  bin: string,
  args: string[],
  env: Record<string, string> = {},
): ChildProcess {
  const child = spawn(bin, args, {
    cwd: tmp,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    logs[name] += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  children.push(child);
  return child;
}

function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca: caPem }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

async function until<T>(what: string, probe: () => Promise<T>, log: () => string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}\n${log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

beforeAll(async () => {
  const caddy = need('caddy');
  const turnserver = need('turnserver');
  const openssl = need('openssl');

  // A test CA and a certificate for localhost signed by it.
  const ssl = (...args: string[]) => execFileSync(openssl, args, { cwd: tmp, stdio: 'pipe' });
  ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  ssl(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=Parley test CA',
    '-days',
    '2',
    '-out',
    'ca.pem',
  );
  ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'site.key');
  writeFileSync(path.join(tmp, 'site.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('req', '-new', '-key', 'site.key', '-subj', '/CN=localhost', '-out', 'site.csr');
  ssl(
    'x509',
    '-req',
    '-in',
    'site.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'site.ext',
    '-out',
    'site.pem',
  );
  caPem = readFileSync(path.join(tmp, 'ca.pem'));

  // coturn with deploy/turnserver.conf; the command line replaces port, address and secret.
  turnPort = await freePort();
  run('turn', turnserver, [
    '-c',
    path.join(DEPLOY, 'turnserver.conf'),
    `--listening-port=${turnPort}`,
    '--listening-ip=127.0.0.1',
    '--relay-ip=127.0.0.1',
    `--static-auth-secret=${SECRET}`,
    '--log-file=stdout',
    `--pidfile=${path.join(tmp, 'turn.pid')}`,
  ]);

  // The server with the unit's command line and the env file, as systemd would start it.
  const unit = readFileSync(path.join(DEPLOY, 'parley.service'), 'utf8');
  expect(unitValue(unit, 'ExecStart').split(' ').slice(1)).toEqual(['--import', 'tsx', 'server/main.ts']);
  const env = envFile(path.join(DEPLOY, 'parley.env'));
  // Section 5: Redis, the env file's REDIS_URL line uncommented, two processes.
  const redisLine = /^#(REDIS_URL)=(redis:\/\/127\.0\.0\.1):6379$/m.exec(
    readFileSync(path.join(DEPLOY, 'parley.env'), 'utf8'),
  );
  expect(
    redisLine,
    'parley.env has the commented REDIS_URL line deploy/README.md tells to uncomment',
  ).not.toBeNull();
  redis = await startRedis();
  httpsPort = await freePort();
  servers = await Promise.all(
    [0, 1].map(() =>
      startServer({
        ...env,
        REDIS_URL: `${redisLine?.[2]}:${redis.port}`,
        PORT: '0',
        PUBLIC_ORIGIN: `https://localhost:${httpsPort}`,
        TURN_URLS: `turn:127.0.0.1:${turnPort}?transport=udp`,
        STUN_URLS: `stun:127.0.0.1:${turnPort}`,
        TURN_SECRET: SECRET,
      }),
    ),
  );

  // Caddy with deploy/Caddyfile, our certificate instead of Let's Encrypt.
  run('caddy', caddy, ['run', '--config', path.join(DEPLOY, 'Caddyfile'), '--adapter', 'caddyfile'], {
    PARLEY_DOMAIN: 'localhost',
    PARLEY_TLS: `${path.join(tmp, 'site.pem')} ${path.join(tmp, 'site.key')}`,
    PARLEY_HTTPS_PORT: String(httpsPort),
    PARLEY_HTTP_PORT: String(await freePort()),
    PARLEY_CADDY_ADMIN: 'off',
    // Both processes, as section 5 writes it: `reverse_proxy 127.0.0.1:8787 127.0.0.1:8788`.
    PARLEY_UPSTREAM: servers.map((srv) => `127.0.0.1:${srv.port}`).join(' '),
    HOME: tmp,
    XDG_DATA_HOME: tmp,
    XDG_CONFIG_HOME: tmp,
  });
  await until(
    'caddy did not serve https',
    () => httpsGet(`https://localhost:${httpsPort}/livez`),
    () => logs.caddy,
  );
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(servers.map((srv) => srv.stop()));
  await redis?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('deploy/: systemd unit, coturn, Caddy with TLS, the server', () => {
  it('the unit passes systemd-analyze verify', () => {
    const bin = need('systemd-analyze');
    const out = execFileSync(bin, ['verify', path.join(DEPLOY, 'parley.service')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBe('');
  });

  it('serves https through Caddy with the certificate from our CA', async () => {
    const res = await httpsGet(`https://localhost:${httpsPort}/livez`);
    expect(res.status).toBe(200);
    const page = await httpsGet(`https://localhost:${httpsPort}/`);
    expect(page.status).toBe(200);
  });

  it('carries a call over wss through Caddy, its room in Redis, and hands out TURN credentials coturn accepts', async () => {
    const origin = `https://localhost:${httpsPort}`;
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(origin, room, { ca: caPem, origin });
    const { client: b, joined: jb } = await TestClient.joined(origin, room, { ca: caPem, origin });
    await a.next('peer-joined');
    a.send({ v: 1, type: 'signal', to: jb.peerId, data: { type: 'offer', sdp: 'v=0' } });
    expect(await b.next('signal')).toMatchObject({ from: ja.peerId, data: { type: 'offer' } });
    // The room is in Redis (under the default prefix), with both people in it.
    const admin = createClient({ url: redis.url });
    admin.on('error', () => {});
    await admin.connect();
    const fields = (await admin.sendCommand(['HKEYS', `parley:room:${room}`])) as string[];
    await admin.close();
    expect(fields.filter((f) => f.startsWith('m:')).sort()).toEqual(
      [`m:${ja.peerId}`, `m:${jb.peerId}`].sort(),
    );

    const turn = (ja.iceServers as { urls: string[]; username?: string; credential?: string }[]).find(
      (s) => s.username !== undefined,
    );
    expect(turn?.urls).toEqual([`turn:127.0.0.1:${turnPort}?transport=udp`]);
    const good = await until(
      'coturn did not answer',
      () => turnAllocate('127.0.0.1', turnPort, turn?.username ?? '', turn?.credential ?? ''),
      () => logs.turn,
    );
    expect(good).toEqual({ ok: true, errorCode: null });
    const forged = await turnAllocate('127.0.0.1', turnPort, turn?.username ?? '', `x${turn?.credential}`);
    expect(forged).toEqual({ ok: false, errorCode: 401 });
    for (const c of [a, b]) c.close();
  });
});
