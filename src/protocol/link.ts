/**
 * Share links: `<server>/r/<roomId>#<secret>`. The server sees the room id, never the
 * fragment; the secret stays between the peers.
 */
import { ROOM_ID_PATTERN } from './signaling.ts';

const SECRET_PATTERN = /^[A-Za-z0-9_-]{22,64}$/;

export function randomBase64Url(bytes = 16): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  let s = '';
  for (const b of buf) s += String.fromCharCode(b);
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export interface ShareLink {
  /** Origin (and optional path prefix) of the signaling server, without trailing slash. */
  server: string;
  room: string;
  secret: string;
}

export function newShareLink(server: string): ShareLink {
  return { server: normalizeServerUrl(server), room: randomBase64Url(16), secret: randomBase64Url(16) };
}

export function formatShareLink(link: ShareLink): string {
  return `${link.server}/r/${link.room}#${link.secret}`;
}

/** Accepts http(s) URLs of the form `<server>/r/<room>#<secret>`; null for anything else. */
export function parseShareLink(text: string): ShareLink | null {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const match = /^(.*)\/r\/([^/]+)\/?$/.exec(url.pathname);
  if (!match) return null;
  const room = match[2] ?? '';
  const secret = url.hash.slice(1);
  if (!ROOM_ID_PATTERN.test(room) || !SECRET_PATTERN.test(secret)) return null;
  return { server: `${url.origin}${match[1] ?? ''}`, room, secret };
}

/** `http://host:port/` → `http://host:port`; throws on anything that is not http(s). */
export function normalizeServerUrl(text: string): string {
  const url = new URL(text.trim());
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error('The server address must start with http:// or https://');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The WebSocket endpoint of a signaling server: `ws(s)://host/ws`. */
export function signalingSocketUrl(server: string): string {
  const url = new URL(`${normalizeServerUrl(server)}/ws`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}
