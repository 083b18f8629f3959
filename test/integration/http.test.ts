import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient } from './ws-client.ts';

let server: ServerHandle;
let guestDir: string;
const SECRET_FILE = 'not-for-you.txt';

beforeAll(async () => {
  const base = mkdtempSync(path.join(tmpdir(), 'parley-guest-'));
  guestDir = path.join(base, 'guest');
  mkdirSync(path.join(guestDir, 'assets'), { recursive: true });
  writeFileSync(path.join(guestDir, 'index.html'), '<!doctype html><title>Parley call</title>');
  writeFileSync(path.join(guestDir, 'assets', 'index-Ab12Cd.js'), 'console.log(1)');
  writeFileSync(path.join(guestDir, 'assets', 'style-Ef34.css'), 'body{}');
  writeFileSync(path.join(base, SECRET_FILE), 'outside the guest dir');
  server = await startServer({ GUEST_DIR: guestDir });
});
afterAll(async () => {
  await server.stop();
  rmSync(path.dirname(guestDir), { recursive: true, force: true });
});

/** A raw GET that sends the path exactly as written (fetch would normalise `..`). */
function rawGet(pathname: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: pathname }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP', () => {
  it('serves the guest page at a share link with its security headers', async () => {
    const res = await fetch(`${server.url}/r/${newRoom()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toContain('Parley call');
    const csp = res.headers.get('content-security-policy') ?? '';
    for (const directive of [
      "default-src 'self'",
      `connect-src 'self' ws://127.0.0.1:${server.port} wss://127.0.0.1:${server.port}`,
      "object-src 'none'",
      "base-uri 'none'",
      'frame-src blob:',
      "frame-ancestors 'none'",
    ]) {
      expect(csp).toContain(directive);
    }
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('permissions-policy')).toContain('camera=(self)');
    expect(res.headers.get('permissions-policy')).toContain('microphone=(self)');
  });

  it('serves the same page, with its headers, at a contact link (/c; the fragment stays in the browser)', async () => {
    const res = await fetch(`${server.url}/c`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Parley call');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect((await fetch(`${server.url}/c/x`)).status).toBe(404);
  });

  it('answers 404 for room ids that are not 128-bit base64url', async () => {
    for (const bad of ['short', `${newRoom()}!`, 'a'.repeat(65), `${newRoom()}/x`, `${newRoom()}%00`]) {
      expect((await fetch(`${server.url}/r/${bad}`)).status).toBe(404);
    }
  });

  it('serves built assets with their content types and long caching for hashed files', async () => {
    const js = await fetch(`${server.url}/guest/assets/index-Ab12Cd.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toContain('immutable');
    const css = await fetch(`${server.url}/guest/assets/style-Ef34.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${server.url}/guest/assets/missing.js`)).status).toBe(404);
  });

  it('never serves a file outside the guest directory', async () => {
    for (const p of [
      `/guest/../${SECRET_FILE}`,
      `/guest/%2e%2e/${SECRET_FILE}`,
      `/guest/..%2f${SECRET_FILE}`,
      `/guest/assets/../../${SECRET_FILE}`,
      '/guest/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/guest/%00',
      '/guest/%E0%A4%A',
    ]) {
      const res = await rawGet(p);
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain('outside the guest dir');
    }
  });

  it('answers health checks and a small home page', async () => {
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const home = await fetch(`${server.url}/`);
    expect(await home.text()).toContain('Parley signaling server');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/livez`, { method: 'POST' })).status).toBe(405);
  });

  it('exposes Prometheus metrics: sockets, rooms, relayed messages, rejections, event loop lag', async () => {
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(server.url, room);
    const { client: b } = await TestClient.joined(server.url, room);
    b.send({ v: 1, type: 'signal', to: ja.peerId, data: 1 });
    await a.next('signal');
    b.sendRaw('{');
    await b.next('error');
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^parley_sockets 2$/m);
    expect(text).toMatch(/^parley_rooms 1$/m);
    expect(text).toMatch(/^parley_messages_relayed_total [1-9]/m);
    expect(text).toMatch(/^parley_rejections_total\{reason="bad-json"\} [1-9]/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    a.close();
    b.close();
  });
});

describe('HTTP without a built guest page', () => {
  it('says how to build it instead of failing obscurely', async () => {
    const bare = await startServer({ GUEST_DIR: path.join(tmpdir(), 'parley-no-such-dir') });
    try {
      const res = await fetch(`${bare.url}/r/${newRoom()}`);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('Guest page not built: run npm run build');
    } finally {
      await bare.stop();
    }
  });
});
