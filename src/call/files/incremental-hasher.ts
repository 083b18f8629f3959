/**
 * SHA-256 fed chunk by chunk (hash-wasm), so neither side ever needs the whole file in memory
 * (`crypto.subtle.digest` only takes a complete buffer).
 */
import { createSHA256, type IHasher } from 'hash-wasm';

export class IncrementalHasher {
  private constructor(private readonly hasher: IHasher) {}

  static async create(): Promise<IncrementalHasher> {
    const hasher = await createSHA256();
    hasher.init();
    return new IncrementalHasher(hasher);
  }

  update(bytes: Uint8Array): void {
    this.hasher.update(bytes);
  }

  /** Lowercase hex; the hasher cannot be fed after this. */
  digestHex(): string {
    return this.hasher.digest('hex');
  }
}
