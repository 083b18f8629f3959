/**
 * The secret of a call that began as a ring between two contacts: both derive it from their
 * pair secret and the ring's call id, so it plays the part of a share link's secret (the
 * description MAC of src/call/verify.ts) without ever being sent: the server, which carries
 * the ring, sees the call id and the room but cannot compute it. A new call id gives a new
 * secret. 16 bytes, base64url, as a link secret.
 */
import { hmacSha256, toBase64Url, utf8 } from './bytes.ts';

export async function ringCallSecret(pairSecret: Uint8Array<ArrayBuffer>, callId: string): Promise<string> {
  if (pairSecret.length !== 32) throw new Error('A pair secret is 32 bytes.');
  return toBase64Url((await hmacSha256(pairSecret, utf8(`parley-ring-secret-v1|${callId}`))).subarray(0, 16));
}
