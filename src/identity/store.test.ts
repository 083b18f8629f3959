import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { signText, verifyText } from './keys.ts';
import { fromRecord, IdentityStore } from './store.ts';

describe('identity store (IndexedDB)', () => {
  it('creates the identity once and gives back the same signing key later', async () => {
    const factory = new IDBFactory();
    const first = await IdentityStore.open(factory);
    const made = await first.loadOrCreate(1000);
    first.close();

    const second = await IdentityStore.open(factory);
    const loaded = await second.load();
    expect(loaded?.publicKey).toBe(made.publicKey);
    expect(loaded?.createdAt).toBe(1000);
    expect(loaded?.privateKey.extractable).toBe(false);
    // The stored CryptoKey still signs, and the signature belongs to the stored public key.
    const sig = await signText(loaded as NonNullable<typeof loaded>, 'after a restart');
    expect(await verifyText(made.publicKey, 'after a restart', sig)).toBe(true);
    expect((await second.loadOrCreate()).publicKey).toBe(made.publicKey);
    second.close();
  });

  it('makes exactly one identity when the worker and a page ask at the same time', async () => {
    const factory = new IDBFactory();
    const [a, b] = await Promise.all([IdentityStore.open(factory), IdentityStore.open(factory)]);
    const [x, y] = await Promise.all([a.loadOrCreate(), b.loadOrCreate()]);
    expect(x.publicKey).toBe(y.publicKey);
    a.close();
    b.close();
  });

  it('has nothing before the first run', async () => {
    const store = await IdentityStore.open(new IDBFactory());
    expect(await store.load()).toBeNull();
    store.close();
  });

  it('ignores a record it cannot sign with', () => {
    expect(fromRecord(null)).toBeNull();
    expect(fromRecord({ version: 2, publicKey: 'x', privateKey: {}, createdAt: 1 })).toBeNull();
    expect(
      fromRecord({
        version: 1,
        publicKey: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
        privateKey: { type: 'public', algorithm: { name: 'Ed25519' }, usages: ['verify'] },
        createdAt: 1,
      }),
    ).toBeNull();
  });
});
