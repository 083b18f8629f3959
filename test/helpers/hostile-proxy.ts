/**
 * A hostile signaling server for tests: a proxy between clients (real Chromium profiles with
 * the extension) and the real server process, which can read, rewrite, drop and inject
 * messages on every WebSocket, as a compromised or malicious server could. Plain HTTP is
 * forwarded untouched. The upstream socket carries the client's Host and Origin headers, so
 * the server sees the origin the client named (the presence proof signs it).
 *
 * Messages are JSON text frames; anything else passes unchanged. A rewrite may be async; the
 * order of messages on one socket is kept.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';

export type Json = Record<string, unknown>;

export interface ProxiedSocket {
  /** The request path (e.g. "/ws"). */
  readonly path: string;
  /** The `type` of every message the client sent on it so far. */
  readonly clientTypes: ReadonlySet<string>;
  readonly open: boolean;
  /** Send a message to the client as if the server had sent it. */
  toClient(message: Json): void;
}

/** Returns the message to pass on (the same, changed, or a new one), or null to drop it. */
export type Rewrite = (message: Json, socket: ProxiedSocket) => Json | null | Promise<Json | null>;

export interface HostileProxy {
  /** The URL clients use as their signaling server (http://127.0.0.1:port). */
  readonly url: string;
  readonly sockets: readonly ProxiedSocket[];
  /** What the server sends clients; null passes everything. */
  toClient: Rewrite | null;
  /** What clients send the server; null passes everything. */
  toServer: Rewrite | null;
  close(): Promise<void>;
}

function closeCode(code: number): number | undefined {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : undefined;
}

function parse(data: RawData, isBinary: boolean): Json | null {
  if (isBinary) return null;
  try {
    const value = JSON.parse(data.toString()) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

export async function startHostileProxy(upstream: string): Promise<HostileProxy> {
  const target = new URL(upstream);
  const sockets: ProxiedSocket[] = [];
  const clients = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true });

  const http = createServer((req, res) => {
    const forward = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.writeHead(502).end());
    req.pipe(forward);
  });

  const proxy: HostileProxy = {
    url: '',
    sockets,
    toClient: null,
    toServer: null,
    async close() {
      for (const client of clients) client.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };

  function relay(
    from: WebSocket,
    to: () => WebSocket,
    rewrite: () => Rewrite | null,
    socket: ProxiedSocket,
    onMessage?: (message: Json) => void,
  ): void {
    let chain: Promise<void> = Promise.resolve();
    from.on('message', (data, isBinary) => {
      chain = chain
        .then(async () => {
          const message = parse(data, isBinary);
          const change = rewrite();
          if (message !== null) onMessage?.(message);
          if (message === null || change === null) {
            to().send(data, { binary: isBinary });
            return;
          }
          const out = await change(message, socket);
          if (out !== null) to().send(JSON.stringify(out));
        })
        .catch(() => {}); // A socket closed meanwhile: the next message still goes.
    });
  }

  function accept(client: WebSocket, req: IncomingMessage): void {
    clients.add(client);
    const headers: Record<string, string> = {};
    if (req.headers.host) headers.host = req.headers.host;
    if (req.headers.origin) headers.origin = req.headers.origin;
    const server = new WebSocket(`ws://${target.host}${req.url ?? '/'}`, { headers });
    const pending: Array<() => void> = [];
    const types = new Set<string>();
    const socket: ProxiedSocket = {
      path: req.url ?? '/',
      clientTypes: types,
      get open() {
        return client.readyState === WebSocket.OPEN;
      },
      toClient(message) {
        if (client.readyState === WebSocket.OPEN) client.send(JSON.stringify(message));
      },
    };
    sockets.push(socket);
    // Until the upstream socket opens, what the client sends waits here.
    const upstreamSend = {
      send(data: unknown, options?: { binary: boolean }) {
        const go = () => server.send(data as string, options ?? {});
        if (server.readyState === WebSocket.OPEN) go();
        else pending.push(go);
      },
    } as unknown as WebSocket;
    server.on('open', () => {
      for (const go of pending.splice(0)) go();
    });
    relay(
      client,
      () => upstreamSend,
      () => proxy.toServer,
      socket,
      (message) => {
        if (typeof message.type === 'string') types.add(message.type);
      },
    );
    relay(
      server,
      () => client,
      () => proxy.toClient,
      socket,
    );
    client.on('close', (code, reason) => {
      clients.delete(client);
      if (server.readyState === WebSocket.CONNECTING) server.terminate();
      else server.close(closeCode(code), reason);
    });
    server.on('close', (code, reason) => client.close(closeCode(code), reason));
    server.on('error', () => client.terminate());
    client.on('error', () => server.terminate());
  }

  http.on('upgrade', (req: IncomingMessage, raw: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, raw, head, (client) => accept(client, req));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const { port } = http.address() as AddressInfo;
  (proxy as { url: string }).url = `http://127.0.0.1:${port}`;
  return proxy;
}
