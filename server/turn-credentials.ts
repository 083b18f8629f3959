/**
 * TURN REST API credentials (draft-uberti-behave-turn-rest, what coturn's
 * `use-auth-secret` expects): username `<expiry unix seconds>:<opaque id>`, password
 * base64(HMAC-SHA1(secret, username)). The secret never leaves the server.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IceServer } from '../src/protocol/signaling.ts';

export function turnCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export function turnUsername(nowMs: number, ttlSec: number, opaqueId = randomBytes(9).toString('base64url')) {
  return `${Math.floor(nowMs / 1000) + ttlSec}:${opaqueId}`;
}

export interface IceConfig {
  stunUrls: string[];
  turnUrls: string[];
  turnSecret: string | null;
  turnTtlSec: number;
}

/** The ICE servers a freshly joined client gets; TURN entries carry new credentials each time. */
export function iceServersFor(config: IceConfig, nowMs: number): IceServer[] {
  const servers: IceServer[] = [];
  if (config.stunUrls.length > 0) servers.push({ urls: config.stunUrls });
  if (config.turnUrls.length > 0 && config.turnSecret !== null) {
    const username = turnUsername(nowMs, config.turnTtlSec);
    servers.push({
      urls: config.turnUrls,
      username,
      credential: turnCredential(config.turnSecret, username),
    });
  }
  return servers;
}
