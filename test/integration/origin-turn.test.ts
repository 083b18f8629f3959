import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient, wsUrl } from './ws-client.ts';

const EXTENSION = 'chrome-extension://abcdefghijklmnopabcdefghijklmnop';

async function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(wsUrl(url), { headers });
  ws.on('error', () => {});
  const result = await Promise.race([
    once(ws, 'open').then(() => 101),
    once(ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
  ]);
  ws.terminate();
  return result;
}

describe('Origin allowlist at the upgrade', () => {
  let server: ServerHandle;
  beforeAll(async () => {
    server = await startServer({ ALLOWED_ORIGINS: EXTENSION, ALLOW_NO_ORIGIN: '0' });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('refuses a foreign web page with 403 and lets the configured extension in', async () => {
    expect(await upgradeStatus(server.url, { Origin: 'https://evil.example' })).toBe(403);
    expect(
      await upgradeStatus(server.url, { Origin: 'chrome-extension://bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }),
    ).toBe(403);
    expect(await upgradeStatus(server.url, { Origin: EXTENSION })).toBe(101);
  });

  it("lets the server's own guest page in, whatever host name it was reached by", async () => {
    const host = new URL(server.url).host;
    expect(await upgradeStatus(server.url, { Origin: `http://${host}` })).toBe(101);
    expect(
      await upgradeStatus(server.url, { Origin: 'http://call.example.org', Host: 'call.example.org' }),
    ).toBe(101);
    expect(await upgradeStatus(server.url, { Origin: `http://${host}.evil.example` })).toBe(403);
  });

  it('refuses clients without an Origin when ALLOW_NO_ORIGIN=0, and answers other paths with 404', async () => {
    expect(await upgradeStatus(server.url, {})).toBe(403);
    const ws = new WebSocket(`${wsUrl(server.url)}x`, { headers: { Origin: EXTENSION } });
    ws.on('error', () => {});
    const [, res] = await once(ws, 'unexpected-response');
    expect(res.statusCode).toBe(404);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/parley_rejections_total\{reason="origin"\} [1-9]/);
  });
});

describe('ICE servers', () => {
  it('hands out no ICE servers by default', async () => {
    const server = await startServer();
    try {
      const { client, joined } = await TestClient.joined(server.url, newRoom());
      expect(joined.iceServers).toEqual([]);
      client.close();
    } finally {
      await server.stop();
    }
  });

  it('hands out STUN and time-limited TURN REST credentials that verify with the shared secret', async () => {
    const secret = 'correct horse battery staple';
    const server = await startServer({
      STUN_URLS: 'stun:stun.example.org:3478',
      TURN_URLS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349',
      TURN_SECRET: secret,
      TURN_TTL: '3600',
    });
    try {
      const before = Math.floor(Date.now() / 1000);
      const { client, joined } = await TestClient.joined(server.url, newRoom());
      const after = Math.ceil(Date.now() / 1000);
      expect(joined.iceServers[0]).toEqual({ urls: ['stun:stun.example.org:3478'] });
      const turn = joined.iceServers[1];
      expect(turn.urls).toEqual(['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349']);
      const [expiry, opaque] = turn.username.split(':');
      expect(Number(expiry)).toBeGreaterThanOrEqual(before + 3600);
      expect(Number(expiry)).toBeLessThanOrEqual(after + 3600);
      expect(opaque).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(turn.credential).toBe(createHmac('sha1', secret).update(turn.username).digest('base64'));
      // Neither the secret nor the credential ends up in the logs.
      await new Promise((r) => setTimeout(r, 100));
      const logs = server.logs.join('\n');
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(turn.credential);
      client.close();
    } finally {
      await server.stop();
    }
  });

  it('refuses to start with a TURN TTL over 24 hours, saying why', async () => {
    await expect(startServer({ TURN_URLS: 'turn:t', TURN_SECRET: 's', TURN_TTL: '90000' })).rejects.toThrow(
      /TURN_TTL must be between/,
    );
  });
});
