import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockHasher, HASH_BLOCK_BYTES } from './block-hash.ts';

/** The definition in block-hash.ts, with Node's own SHA-256. */
function blockHashOf(bytes: Uint8Array): string {
  const top = createHash('sha256');
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(bytes.byteLength));
  top.update(size);
  for (let at = 0; at < bytes.byteLength; at += HASH_BLOCK_BYTES)
    top.update(
      createHash('sha256')
        .update(bytes.subarray(at, at + HASH_BLOCK_BYTES))
        .digest(),
    );
  return top.digest('hex');
}

describe('BlockHasher', () => {
  it('gives the same value however the file is cut into pieces', async () => {
    const sizes = [
      0,
      1,
      HASH_BLOCK_BYTES - 1,
      HASH_BLOCK_BYTES,
      HASH_BLOCK_BYTES + 1,
      2 * HASH_BLOCK_BYTES + 12_345,
    ];
    for (const size of sizes) {
      const bytes = randomBytes(size);
      const expected = blockHashOf(bytes);
      for (const piece of [size || 1, 1000, 256 * 1024 + 13, HASH_BLOCK_BYTES]) {
        const hasher = new BlockHasher();
        for (let at = 0; at < size; at += piece) hasher.update(bytes.subarray(at, at + piece));
        expect(await hasher.digestHex(), `size ${size}, pieces of ${piece}`).toBe(expected);
      }
    }
  });

  it('gives the same value when each piece is detached right after it was fed', async () => {
    // The OPFS writer worker frees every chunk's buffer once it is hashed (chunk-release.ts).
    const size = 2 * HASH_BLOCK_BYTES + 12_345;
    const bytes = randomBytes(size);
    const expected = blockHashOf(bytes);
    for (const piece of [256 * 1024 + 13, HASH_BLOCK_BYTES, HASH_BLOCK_BYTES + 7, size]) {
      const hasher = new BlockHasher();
      for (let at = 0; at < size; at += piece) {
        const own = Uint8Array.from(bytes.subarray(at, at + piece));
        hasher.update(own);
        structuredClone(own.buffer, { transfer: [own.buffer] });
        expect(own.byteLength).toBe(0);
      }
      expect(await hasher.digestHex(), `pieces of ${piece}`).toBe(expected);
    }
  });

  it('differs when one byte differs, and when the size differs', async () => {
    const bytes = randomBytes(HASH_BLOCK_BYTES + 100);
    const hash = async (b: Uint8Array) => {
      const hasher = new BlockHasher();
      hasher.update(b);
      return hasher.digestHex();
    };
    const changed = Uint8Array.from(bytes);
    changed[HASH_BLOCK_BYTES + 50]! ^= 1;
    expect(await hash(changed)).not.toBe(await hash(bytes));
    expect(await hash(bytes.subarray(0, HASH_BLOCK_BYTES))).not.toBe(await hash(bytes));
  });
});
