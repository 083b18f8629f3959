import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, PEER_A, TestClient } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

async function expectError(client: TestClient, code: string) {
  const error = await client.next('error');
  expect(error).toMatchObject({ v: 1, type: 'error', code });
  // A human sentence, not a stack trace or [object Object].
  expect(error.message).toMatch(/^[A-Z][^\n]{5,200}\.$/);
}

describe('malformed input gets an error with a stable code and never takes the server down', () => {
  it('answers malformed JSON with bad-json and keeps the connection usable', async () => {
    const client = await TestClient.open(server.url);
    for (const text of ['{', 'not json', '{"v":1,"type":"ping"', '', '\u0000']) {
      client.sendRaw(text);
      await expectError(client, 'bad-json');
    }
    client.send({ v: 1, type: 'ping' });
    expect(await client.next()).toMatchObject({ type: 'pong' });
    client.close();
  });

  it('answers wrong field types and shapes with bad-message', async () => {
    const client = await TestClient.open(server.url);
    const bad = [
      [],
      'join',
      42,
      null,
      { type: 'join', room: newRoom() },
      { v: 1 },
      { v: 1, type: 7 },
      { v: 1, type: 'join', room: 42 },
      { v: 1, type: 'join', room: 'too-short' },
      { v: 1, type: 'join', room: `${newRoom()}/../x` },
      { v: 1, type: 'join', room: newRoom(), extra: true },
      { v: 1, type: 'join', room: newRoom(), resume: { peerId: 'x', token: 'y' } },
      { v: 1, type: 'signal', to: 'short', data: 1 },
      { v: 1, type: 'signal', to: PEER_A },
      { v: 1, type: 'signal', to: [PEER_A], data: 1 },
      { v: 1, type: 'ping', extra: 1 },
    ];
    for (const message of bad) {
      client.send(message);
      await expectError(client, 'bad-message');
    }
    client.close();
  });

  it('answers unknown message kinds with bad-message and other versions with unsupported-version', async () => {
    const client = await TestClient.open(server.url);
    for (const type of ['dance', 'JOIN', 'signal ', '__proto__', 'constructor']) {
      client.send({ v: 1, type });
      await expectError(client, 'bad-message');
    }
    for (const v of [0, 2, '1', 1.5]) {
      client.send({ v, type: 'ping' });
      await expectError(client, 'unsupported-version');
    }
    client.close();
  });

  it('refuses binary frames with binary-not-supported', async () => {
    const client = await TestClient.open(server.url);
    client.sendRaw(Buffer.from(JSON.stringify({ v: 1, type: 'ping' })), true);
    await expectError(client, 'binary-not-supported');
    client.sendRaw(Buffer.from([0xff, 0x00, 0x13]), true);
    await expectError(client, 'binary-not-supported');
    client.close();
  });

  it('closes a socket that sends a frame over 64 KiB with 1009 and counts it', async () => {
    const client = await TestClient.open(server.url);
    const room = newRoom();
    client.send({ v: 1, type: 'join', room });
    await client.next('joined');
    client.sendRaw(JSON.stringify({ v: 1, type: 'signal', to: PEER_A, data: 'x'.repeat(70 * 1024) }));
    expect((await client.closed).code).toBe(1009);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/parley_rejections_total\{reason="too-large"\} [1-9]/);
    // Just under the limit still goes through.
    const { client: a, joined: ja } = await TestClient.joined(server.url, room);
    const { client: b } = await TestClient.joined(server.url, room);
    const big = 'y'.repeat(60 * 1024);
    b.send({ v: 1, type: 'signal', to: ja.peerId, data: big });
    expect((await a.next('signal')).data).toBe(big);
    a.close();
    b.close();
  });

  it('still relays between valid clients after all of that', async () => {
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(server.url, room);
    const { client: b } = await TestClient.joined(server.url, room);
    b.send({
      v: 1,
      type: 'signal',
      to: ja.peerId,
      data: { candidate: 'a=candidate:1 1 udp 1 127.0.0.1 9 typ host' },
    });
    expect(await a.next('signal')).toMatchObject({
      data: { candidate: expect.stringContaining('candidate') },
    });
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
    a.close();
    b.close();
  });
});
