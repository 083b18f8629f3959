/**
 * Small helpers shared by the file exchange's unit tests (file-exchange, send-again,
 * reclaim-index): waiting for a condition, the hashes the tests compare, and Files to send.
 */
import { createHash } from 'node:crypto';
import { BlockHasher } from './block-hash.ts';

/** Resolves once `condition()` holds; fails naming `what` after `ms`. */
export async function until(
  condition: () => boolean,
  what: string | (() => string),
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Node's SHA-256 of the bytes, in hex. */
export const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The hash the peers exchange (block-hash.ts, itself checked against Node's SHA-256 in its test). */
export const fileHash = (bytes: Uint8Array) => {
  const hasher = new BlockHasher();
  hasher.update(bytes);
  return hasher.digestHex();
};

export const fileOf = (bytes: Uint8Array, name: string, type = 'application/octet-stream') =>
  new File([bytes as Uint8Array<ArrayBuffer>], name, { type });
