/**
 * Wires the HTTP routes and the signaling WebSocket onto one http(s) server.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, type ServerConfig } from './config.ts';
import { createHttpHandler } from './http-routes.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { createSignalingServer, type DirectoryFactory, type RoomsFactory } from './signaling.ts';
import { iceServersFor } from './turn-credentials.ts';

export interface ParleyServer {
  /** Resolves with the port actually bound (PORT=0 picks one). */
  listen(): Promise<number>;
  /** Graceful: not ready, clients told and closed, listener closed. */
  close(): Promise<void>;
}

function readPem(file: string, name: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${name}: cannot read ${file} (${(err as Error).message}).`);
  }
}

/**
 * What a connection the HTTP parser gave up on is told before it is closed. One that sent no
 * complete request within the headers/request timeout (ERR_HTTP_REQUEST_TIMEOUT; an idle
 * connection a browser opened ahead, a preconnect, is one) gets 408, as Node's own default
 * answers: a browser whose request crosses that answer on such a connection sends the
 * request again on a new one (Chromium does so for 408 on a reused or preconnected socket).
 * A 400 there fails the page load instead (Chromium: net::ERR_HTTP_RESPONSE_CODE_FAILURE,
 * likely what the benches saw now and then on a loaded machine). Anything else is a bad
 * request.
 */
export function clientErrorResponse(err: { code?: string }): string {
  return err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'
    : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
}

export function createParleyServer(config: ServerConfig, log: Logger): ParleyServer {
  let listening = false;
  let closing = false;
  let signaling: ReturnType<typeof createSignalingServer> | null = null;
  const metrics = new Metrics({
    sockets: () => signaling?.socketCount() ?? 0,
    rooms: () => signaling?.roomCount() ?? 0,
  });
  const handler = createHttpHandler(config, log, metrics, {
    notReady() {
      if (closing) return 'shutting down';
      if (!listening || signaling === null) return 'starting';
      return signaling.ready() ? null : 'redis unavailable';
    },
  });
  const server =
    config.tlsCert !== null && config.tlsKey !== null
      ? https.createServer(
          { cert: readPem(config.tlsCert, 'TLS_CERT'), key: readPem(config.tlsKey, 'TLS_KEY') },
          handler,
        )
      : http.createServer(handler);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.on('upgrade', (req, socket, head) => {
    if (signaling === null) socket.destroy();
    else signaling.handleUpgrade(req, socket, head);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable) socket.end(clientErrorResponse(err));
    else socket.destroy();
  });

  return {
    async listen() {
      // The Redis client is loaded only when it is used (a single node never pays for it).
      let makeRooms: RoomsFactory | undefined;
      let makeDirectory: DirectoryFactory | undefined;
      const redisUrl = config.redisUrl;
      if (redisUrl !== null) {
        const { createRedisRooms } = await import('./redis-rooms.ts');
        const { createRedisDirectory } = await import('./redis-presence.ts');
        const iceServers = () => iceServersFor(config, Date.now());
        makeRooms = (outbox) => createRedisRooms({ ...config, redisUrl }, outbox, iceServers, log);
        makeDirectory = () => createRedisDirectory({ ...config, redisUrl }, log);
      }
      signaling = createSignalingServer(config, log, metrics, makeRooms, makeDirectory);
      return new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          listening = true;
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    async close() {
      // Keep listening while clients drain, so /readyz can answer 503 to the load balancer.
      closing = true;
      await signaling?.shutdown();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
