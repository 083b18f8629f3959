/**
 * Where the identity lives: the extension's IndexedDB (database `parley-identity`, object
 * store `identity`, one record under the key `self`). IndexedDB, not `chrome.storage`,
 * because only structured clone keeps a non-extractable CryptoKey usable: the record holds the
 * CryptoKey object itself, never key bytes. Works in the service worker and in extension pages
 * (not in the overlay iframe, which has no IndexedDB: it asks the worker).
 *
 * Reinstalling the extension (or clearing its data) wipes the key: the profile gets a new
 * identity, and its contacts see a changed key and refuse its rings until they save it again.
 */
import { generateIdentity, type Identity, isPublicKey } from './keys.ts';

export const IDENTITY_DB = 'parley-identity';
const DB_VERSION = 1;
const STORE = 'identity';
const SELF = 'self';

/** What is stored (version 1). */
export interface IdentityRecord {
  version: 1;
  privateKey: CryptoKey;
  publicKey: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

export function toRecord(identity: Identity, createdAt: number): IdentityRecord {
  return { version: 1, privateKey: identity.privateKey, publicKey: identity.publicKey, createdAt };
}

/** The identity in a stored record, or null if the record is not one we can use. */
export function fromRecord(record: unknown): (Identity & { createdAt: number }) | null {
  if (typeof record !== 'object' || record === null) return null;
  const r = record as Partial<IdentityRecord>;
  const key = r.privateKey;
  if (r.version !== 1 || typeof r.publicKey !== 'string' || !isPublicKey(r.publicKey)) return null;
  if (typeof r.createdAt !== 'number') return null;
  // A CryptoKey survives structured clone with its algorithm and usages; check them anyway.
  if (
    typeof key !== 'object' ||
    key === null ||
    key.type !== 'private' ||
    key.algorithm?.name !== 'Ed25519' ||
    !key.usages?.includes('sign')
  ) {
    return null;
  }
  return { privateKey: key, publicKey: r.publicKey, createdAt: r.createdAt };
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed.'));
  });
}

function open(factory: IDBFactory): Promise<IDBDatabase> {
  const req = factory.open(IDENTITY_DB, DB_VERSION);
  req.onupgradeneeded = () => {
    if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
  };
  return request(req);
}

export class IdentityStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** `factory` is `indexedDB` in the extension (a fake in unit tests). */
  static async open(factory: IDBFactory = indexedDB): Promise<IdentityStore> {
    return new IdentityStore(await open(factory));
  }

  async load(): Promise<(Identity & { createdAt: number }) | null> {
    const tx = this.db.transaction(STORE, 'readonly');
    return fromRecord(await request(tx.objectStore(STORE).get(SELF)));
  }

  /**
   * The profile's identity, created on first use. Safe when the worker and a page ask at the
   * same time: the key pair is made first (an IndexedDB transaction cannot wait for WebCrypto),
   * then `add` stores it only if there is none yet; the loser reads and returns the winner's.
   */
  async loadOrCreate(now = Date.now()): Promise<Identity & { createdAt: number }> {
    const existing = await this.load();
    if (existing !== null) return existing;
    const made = await generateIdentity();
    const tx = this.db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const current = fromRecord(await request(store.get(SELF)));
    if (current !== null) return current;
    // A record we cannot use (a future version, or damaged) is replaced: a key we cannot sign
    // with is no identity.
    await request(store.put(toRecord(made, now), SELF));
    return { ...made, createdAt: now };
  }

  close(): void {
    this.db.close();
  }
}
