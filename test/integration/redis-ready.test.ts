/**
 * What a load balancer sees of a node on Redis (real server processes, a real redis-server, a
 * TCP proxy between one node and Redis that cuts it off): /readyz answers 503 until the node's
 * connections to Redis are up and it listens on its own channels, 503 again while Redis is
 * unreachable, 200 once it is back; /livez answers 200 throughout (the process is alive).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisHandle, startRedis } from '../helpers/redis-process.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { signal, startNode, until } from './redis-nodes.ts';
import { newRoom, TestClient } from './ws-client.ts';

let redis: RedisHandle;
let env: Record<string, string>;
let n1: ServerHandle;
let proxy: TcpProxy;

beforeAll(async () => {
  redis = await startRedis();
  env = { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '1000', SHUTDOWN_GRACE_MS: '1000' };
  n1 = await startNode(env);
  proxy = await startTcpProxy(redis.port);
}, 120_000);

afterAll(async () => {
  await n1?.stop();
  await proxy?.close();
  await redis?.stop();
});

async function status(node: ServerHandle, path: string): Promise<number> {
  return (await fetch(`${node.url}${path}`)).status;
}

/** Two people in a new room, one on each node, exchange a signal each way. */
async function callAcross(here: ServerHandle, there: ServerHandle): Promise<void> {
  const room = newRoom();
  const { client: a, joined: ja } = await TestClient.joined(here.url, room);
  const { client: b, joined: jb } = await TestClient.joined(there.url, room);
  await a.next('peer-joined');
  a.send(signal(jb.peerId, { type: 'offer' }));
  expect(await b.next('signal')).toMatchObject({ from: ja.peerId, data: { type: 'offer' } });
  b.send(signal(ja.peerId, { type: 'answer' }));
  expect(await a.next('signal')).toMatchObject({ from: jb.peerId, data: { type: 'answer' } });
  a.close();
  b.close();
}

describe('readiness of a node on Redis', { timeout: 90_000 }, () => {
  it('answers /readyz 503 until Redis is reachable, 200 once connected, 503 while cut off, 200 when back; /livez stays 200', async () => {
    // Redis unreachable for this node from the start: the proxy refuses its connections.
    proxy.cut();
    const n2 = await startServer({ ...env, REDIS_URL: proxy.url }, { ready: false });
    try {
      await until('the node to find Redis unreachable', () =>
        n2.logs.some((l) => l.includes('unreachable') || l.includes('first connection failed')),
      );
      expect(await status(n2, '/readyz')).toBe(503);
      expect(await status(n2, '/livez')).toBe(200);
      // What someone sent there meanwhile would get: a clear refusal.
      const early = await TestClient.open(n2.url);
      early.send({ v: 1, type: 'join', room: newRoom() });
      expect(await early.next()).toMatchObject({ type: 'error', code: 'unavailable' });

      proxy.restore();
      await until(
        '/readyz to answer 200 once Redis is reachable',
        async () => (await status(n2, '/readyz')) === 200,
        30_000,
      );
      await callAcross(n2, n1);
      await callAcross(n1, n2);

      proxy.cut();
      await until(
        '/readyz to answer 503 while Redis is cut off',
        async () => (await status(n2, '/readyz')) === 503,
        30_000,
      );
      expect(await status(n2, '/livez')).toBe(200);
      expect(await status(n1, '/readyz')).toBe(200);

      proxy.restore();
      await until(
        '/readyz to answer 200 once Redis is back',
        async () => (await status(n2, '/readyz')) === 200,
        30_000,
      );
      await callAcross(n2, n1);
    } finally {
      await n2.stop('SIGKILL');
    }
  });
});
