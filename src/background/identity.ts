/**
 * The profile's identity as the service worker holds it: made on first use (the first worker
 * start after install) and kept in IndexedDB (src/identity/store.ts). The private key never
 * leaves WebCrypto; everything that needs a signature asks this module.
 */
import { keyFingerprint } from '../identity/fingerprint.ts';
import { type Identity, signText } from '../identity/keys.ts';
import { IdentityStore } from '../identity/store.ts';

let loaded: Promise<Identity> | null = null;

export function profileIdentity(): Promise<Identity> {
  loaded ??= IdentityStore.open()
    .then(async (store) => {
      const identity = await store.loadOrCreate();
      store.close();
      return identity;
    })
    .catch((error: unknown) => {
      // Try again next time (IndexedDB can be briefly unavailable while the profile starts).
      loaded = null;
      throw error;
    });
  return loaded;
}

export async function signWithIdentity(text: string): Promise<string> {
  return signText(await profileIdentity(), text);
}

export interface IdentityView {
  publicKey: string;
  /** Four groups of five digits (src/identity/fingerprint.ts). */
  fingerprint: string;
}

export async function identityView(): Promise<IdentityView> {
  const { publicKey } = await profileIdentity();
  return { publicKey, fingerprint: await keyFingerprint(publicKey) };
}
