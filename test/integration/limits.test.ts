import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient, wsUrl } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer({
    RATE_LIMIT_BURST: '120',
    RATE_LIMIT_PER_SEC: '20',
    MAX_CONNECTIONS_PER_IP: '12',
    HEARTBEAT_MS: '150',
    MAX_BUFFERED_BYTES: '262144',
  });
});
afterAll(async () => {
  await server.stop();
});

async function metric(name: string, url = server.url): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('limits', () => {
  it('lets a call-setup burst through untouched', async () => {
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(server.url, room);
    const { client: b } = await TestClient.joined(server.url, room);
    // Two SDPs and 100 ICE candidates in one go.
    for (let i = 0; i < 102; i++)
      b.send({ v: 1, type: 'signal', to: ja.peerId, data: { candidate: `c${i}` } });
    for (let i = 0; i < 102; i++) expect((await a.next('signal')).data).toEqual({ candidate: `c${i}` });
    expect((await b.drain()).filter((m) => m.type === 'error')).toEqual([]);
    a.close();
    b.close();
  });

  it('cuts off a flooding client while another room keeps relaying during the flood', async () => {
    const floodRoom = newRoom();
    const { client: victim, joined: jv } = await TestClient.joined(server.url, floodRoom);
    const { client: flooder } = await TestClient.joined(server.url, floodRoom);
    const quietRoom = newRoom();
    const { client: q1, joined: jq1 } = await TestClient.joined(server.url, quietRoom);
    const { client: q2 } = await TestClient.joined(server.url, quietRoom);

    let flooding = true;
    const flood = (async () => {
      let i = 0;
      while (flooding && flooder.ws.readyState === WebSocket.OPEN) {
        flooder.send({ v: 1, type: 'signal', to: jv.peerId, data: `spam ${i++}` });
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    })();

    const rateLimited = await flooder.next('error');
    expect(rateLimited).toMatchObject({ code: 'rate-limited' });
    // Meanwhile the other call's signaling is unaffected.
    for (let i = 0; i < 20; i++) {
      q2.send({ v: 1, type: 'signal', to: jq1.peerId, data: i });
      expect((await q1.next('signal')).data).toBe(i);
    }
    expect((await flooder.closed).code).toBe(4008);
    flooding = false;
    await flood;
    expect(await victim.next('peer-left')).toMatchObject({ type: 'peer-left' });
    // The victim received at most the burst, not the flood.
    expect(victim.received.filter((m) => m.type === 'signal').length).toBeLessThanOrEqual(200);
    expect(await metric('parley_rejections_total{reason="rate-limit-disconnect"}')).toBeGreaterThanOrEqual(1);
    for (const c of [victim, q1, q2]) c.close();
  });

  it('refuses connections past the per-IP cap with HTTP 429', async () => {
    // Wait for the sockets of earlier tests to be gone.
    while ((await metric('parley_sockets')) > 0) await new Promise((r) => setTimeout(r, 50));
    const clients: TestClient[] = [];
    for (let i = 0; i < 12; i++) clients.push(await TestClient.open(server.url));
    const refused = new WebSocket(wsUrl(server.url));
    refused.on('error', () => {});
    const [, res] = await once(refused, 'unexpected-response');
    expect(res.statusCode).toBe(429);
    clients.pop()!.close();
    while ((await metric('parley_sockets')) > 11) await new Promise((r) => setTimeout(r, 20));
    const again = await TestClient.open(server.url);
    again.close();
    for (const c of clients) c.close();
    while ((await metric('parley_sockets')) > 0) await new Promise((r) => setTimeout(r, 50));
  });

  it('terminates a socket that stops answering pings and tells its room', async () => {
    const room = newRoom();
    const { client: alive } = await TestClient.joined(server.url, room);
    const { client: dead, joined: jd } = await TestClient.joined(server.url, room, { autoPong: false });
    expect(await alive.next('peer-left', 10_000)).toEqual({ v: 1, type: 'peer-left', peerId: jd.peerId });
    expect((await dead.closed).code).toBe(1006);
    // The live client answered its pings and is still here.
    alive.send({ v: 1, type: 'ping' });
    expect(await alive.next('pong')).toBeDefined();
    alive.close();
  });
});

describe('backpressure', () => {
  let slow: ServerHandle;
  beforeAll(async () => {
    // Heartbeat left at its default so only the buffer bound can cut the reader off.
    slow = await startServer({ RATE_LIMIT_BURST: '100000', MAX_BUFFERED_BYTES: '262144' });
  });
  afterAll(async () => {
    await slow.stop();
  });

  it('disconnects a client that does not read instead of buffering without limit', async () => {
    const room = newRoom();
    const { client: reader, joined: jr } = await TestClient.joined(slow.url, room);
    const { client: sender } = await TestClient.joined(slow.url, room);
    // The slow peer stops reading its socket entirely.
    reader.ws.pause();
    const chunk = 'z'.repeat(60_000);
    let sent = 0;
    // Loopback socket buffers hold a few MB; then the server's own queue passes 256 KiB.
    while (sent < 600 && !sender.received.some((m) => m.type === 'peer-left')) {
      sender.send({ v: 1, type: 'signal', to: jr.peerId, data: chunk });
      sent++;
      if (sent % 10 === 0) await new Promise((r) => setTimeout(r, 30));
    }
    expect(await sender.next('peer-left', 10_000)).toMatchObject({ peerId: jr.peerId });
    reader.ws.resume();
    expect([4009, 1006]).toContain((await reader.closed).code);
    expect(await metric('parley_rejections_total{reason="slow-consumer"}', slow.url)).toBeGreaterThanOrEqual(
      1,
    );
    sender.close();
  });
});
