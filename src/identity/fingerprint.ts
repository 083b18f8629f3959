/**
 * A short readable fingerprint of a public key, shown under **Your identity** and beside a
 * contact: four groups of five digits, e.g. `04821 93310 55172 08034` (about 66 bits).
 *
 * SHA-256 over `parley-fingerprint-v1|` and the raw key; each group is 5 bytes of the hash,
 * big-endian, modulo 100 000 (as Signal's safety numbers do with their 5-byte chunks). It is
 * for people comparing keys by eye; the SAS (sas.ts) is what proves a live call.
 */
import { concatBytes, sha256, utf8 } from './bytes.ts';
import { publicKeyBytes } from './keys.ts';

export async function keyFingerprint(publicKey: string): Promise<string> {
  const hash = await sha256(concatBytes(utf8('parley-fingerprint-v1|'), publicKeyBytes(publicKey)));
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let n = 0;
    // 40 bits fit exactly in a double.
    for (let i = 0; i < 5; i++) n = n * 256 + (hash[g * 5 + i] as number);
    groups.push(String(n % 100_000).padStart(5, '0'));
  }
  return groups.join(' ');
}
