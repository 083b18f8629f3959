/**
 * Plain HTTP: health, metrics, the guest page at /r/:room and its built assets at /guest/*.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { ROOM_ID_PATTERN } from '../src/protocol/signaling.ts';
import type { ServerConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** Host header values safe to echo into a CSP: name or IPv4/[IPv6], optional port. */
const SAFE_HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export function guestHeaders(host: string | undefined): Record<string, string> {
  const own = host !== undefined && SAFE_HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return {
    'Content-Security-Policy': [
      "default-src 'self'",
      "script-src 'self'",
      `connect-src 'self'${own}`,
      "img-src 'self' blob: data:",
      "media-src 'self' blob:",
      "worker-src 'self' blob:",
      "style-src 'self' 'unsafe-inline'",
      'frame-src blob:',
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'none'",
      // The call page asks for the camera: never let another site frame it (clickjacking).
      "frame-ancestors 'none'",
    ].join('; '),
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Permissions-Policy':
      'camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), geolocation=()',
    // No Cross-Origin-Opener-Policy on purpose: it forced a new browsing-context group (a
    // process swap) on every open of a share link, ~50 ms before the page could start, and it
    // guards nothing here: whoever holds a window reference to the call page opened it with the
    // link, secret included. See docs/security.md, "The guest page".
  };
}

const HOME = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parley signaling server</title></head>
<body><h1>Parley signaling server</h1>
<p>This server introduces the two sides of a Parley call; the call itself goes peer to peer.
Open a share link (<code>/r/&lt;room&gt;#&lt;secret&gt;</code>) to join a call.</p></body></html>
`;

export interface HttpState {
  /**
   * Null while this node takes new sockets; otherwise why not (/readyz answers 503 with it):
   * starting, shutting down, or (with Redis) its connections to Redis not up.
   */
  notReady(): string | null;
}

export function createHttpHandler(config: ServerConfig, log: Logger, metrics: Metrics, state: HttpState) {
  const root = config.guestDir;

  function plain(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}) {
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      ...extra,
    });
    res.end(`${body}\n`);
  }

  async function serveFile(
    req: IncomingMessage,
    res: ServerResponse,
    file: string,
    headers: Record<string, string>,
  ): Promise<boolean> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(file);
    } catch {
      return false;
    }
    if (!info.isFile()) return false;
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(info.size),
      ...headers,
    });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
    return true;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'Method not allowed', { Allow: 'GET, HEAD' });
      return;
    }
    if (pathname === '/livez') return plain(res, 200, 'ok');
    if (pathname === '/readyz') {
      const why = state.notReady();
      return why === null ? plain(res, 200, 'ready') : plain(res, 503, why);
    }
    if (pathname === '/metrics') {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
      res.end(body);
      return;
    }
    if (pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', ...guestHeaders(undefined) });
      res.end(HOME);
      return;
    }
    const roomMatch = /^\/r\/([^/]+)\/?$/.exec(pathname);
    // A contact link (/c#…) opens the same page, which reads its fragment.
    if (roomMatch || pathname === '/c' || pathname === '/c/') {
      if (roomMatch && !ROOM_ID_PATTERN.test(roomMatch[1] ?? ''))
        return plain(res, 404, 'No such call link.');
      const headers = { ...guestHeaders(req.headers.host), 'Cache-Control': 'no-cache' };
      if (!(await serveFile(req, res, path.join(root, 'index.html'), headers))) {
        plain(res, 503, 'Guest page not built: run npm run build');
      }
      return;
    }
    if (pathname.startsWith('/guest/')) {
      let rel: string;
      try {
        rel = decodeURIComponent(pathname.slice('/guest/'.length));
      } catch {
        return plain(res, 400, 'Bad path');
      }
      const file = path.resolve(root, rel);
      if (rel.includes('\0') || !file.startsWith(root + path.sep)) return plain(res, 404, 'Not found');
      // Vite names built assets by content hash, so they can be cached for good.
      const cache = rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
      if (!(await serveFile(req, res, file, { ...guestHeaders(req.headers.host), 'Cache-Control': cache }))) {
        plain(res, 404, 'Not found');
      }
      return;
    }
    plain(res, 404, 'Not found');
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      log.error({ err }, 'HTTP handler failed');
      if (!res.headersSent) plain(res, 500, 'Internal error');
      else res.destroy();
    });
  };
}
