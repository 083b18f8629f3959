/**
 * A TCP proxy between a server process and its Redis, for tests of what a node does when its
 * connection to Redis misbehaves: `hold` keeps what the node sends from reaching Redis (Redis
 * still sends to the node) until `release`; `cut` closes every connection through it and
 * refuses new ones until `restore` (the node's sockets to its clients stay up).
 */
import { once } from 'node:events';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface TcpProxy {
  /** `redis://127.0.0.1:<port>`: give it to the node as REDIS_URL. */
  readonly url: string;
  /** From now on, bytes from the node wait in the proxy (per connection, in order). */
  hold(): void;
  /** Sends what waited and passes bytes through again. */
  release(): void;
  /** Closes every connection through the proxy and refuses new ones. */
  cut(): void;
  /** Closes the connections the node has subscribed on (pub/sub) and refuses new ones. */
  cutSubscribers(): void;
  /** Takes connections again. */
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  node: Socket;
  redis: Socket;
  held: Buffer[];
  /** The node has sent a SUBSCRIBE on it. */
  subscriber: boolean;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let holding = false;
  let refusing = false;

  const server = createServer((node) => {
    if (refusing) {
      node.destroy();
      return;
    }
    const redis = tcpConnect({ host: '127.0.0.1', port: targetPort });
    const pair: Pair = { node, redis, held: [], subscriber: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      node.destroy();
      redis.destroy();
    };
    node.on('data', (chunk: Buffer) => {
      if (/\r\n(?:subscribe|SUBSCRIBE)\r\n/.test(chunk.toString('latin1'))) pair.subscriber = true;
      if (holding) pair.held.push(chunk);
      else redis.write(chunk);
    });
    redis.on('data', (chunk: Buffer) => node.write(chunk));
    for (const s of [node, redis]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    url: `redis://127.0.0.1:${port}`,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const pair of pairs) {
        for (const chunk of pair.held) pair.redis.write(chunk);
        pair.held = [];
      }
    },
    cut() {
      refusing = true;
      for (const pair of [...pairs]) {
        pair.node.destroy();
        pair.redis.destroy();
      }
      pairs.clear();
    },
    cutSubscribers() {
      refusing = true;
      for (const pair of [...pairs]) {
        if (!pair.subscriber) continue;
        pairs.delete(pair);
        pair.node.destroy();
        pair.redis.destroy();
      }
    },
    restore() {
      refusing = false;
    },
    async close() {
      refusing = true;
      for (const pair of pairs) {
        pair.node.destroy();
        pair.redis.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
