/**
 * Who we are to a receiver across our documents, for "send it again to continue": when the
 * document that was sending a file is gone (a guest page reloaded, an overlay without an
 * offscreen document re-mounted), the receiver keeps its partial copy a while
 * (partial-shelf.ts), and continues it only for an offer of the same file from the same
 * person. "Same person" is this key: HMAC-SHA-256 of the receiver's peer id under a random
 * secret that stays in this browser (the guest page's sessionStorage: the same tab, across
 * reloads; the extension's storage.session: the browser session). Each receiver gets its own
 * key, so one who received our files cannot present our key to anyone else; the secret
 * itself never leaves this browser. "Same file" is the name, the size, and `head`: the
 * SHA-256 of the first HEAD_BYTES (the whole-file SHA-256 is still checked at the end).
 */
import { HEAD_BYTES, type Resumable } from '../../protocol/peer-files.ts';

const LABEL = 'parley send-again v1\n';

/** The extension's overlay asks its background for the secret with this runtime message type. */
export const SEND_AGAIN_SECRET_REQUEST = 'send-again-secret';

function hex(buffer: ArrayBuffer): string {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface SendAgainKeys {
  /** The key we present to the person known here as `peerId` (their signaling id). */
  keyFor(peerId: string): Promise<string>;
}

/** Keys from a 32-byte secret. */
export function sendAgainKeys(secret: Uint8Array<ArrayBuffer>): SendAgainKeys {
  const key = crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return {
    async keyFor(peerId) {
      const mac = await crypto.subtle.sign('HMAC', await key, new TextEncoder().encode(LABEL + peerId));
      return hex(mac);
    },
  };
}

export function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const binary = atob(text);
    if (binary.length !== 32) return null;
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** A secret kept by `load`/`save` (made on first use); null when it cannot be kept. */
export async function keptSecret(
  load: () => Promise<string | null | undefined>,
  save: (value: string) => Promise<void>,
): Promise<Uint8Array<ArrayBuffer> | null> {
  try {
    const stored = await load();
    const existing = typeof stored === 'string' ? fromBase64(stored) : null;
    if (existing) return existing;
    const secret = crypto.getRandomValues(new Uint8Array(32));
    await save(toBase64(secret));
    return secret;
  } catch {
    return null;
  }
}

/**
 * Keys from a secret that `secret` finds or makes; while there is none (storage refused),
 * `keyFor` rejects and our offers are not resumable.
 */
export function lazySendAgainKeys(secret: () => Promise<Uint8Array<ArrayBuffer> | null>): SendAgainKeys {
  let keys: Promise<SendAgainKeys | null> | null = null;
  return {
    async keyFor(peerId) {
      keys ??= secret().then((bytes) => (bytes ? sendAgainKeys(bytes) : null));
      const ready = await keys;
      if (!ready) throw new Error('No send-again key in this browser.');
      return ready.keyFor(peerId);
    },
  };
}

/** SHA-256 (hex) of the first HEAD_BYTES of `file`. */
export async function headHash(file: Blob): Promise<string> {
  const bytes = await file.slice(0, HEAD_BYTES).arrayBuffer();
  if (bytes.byteLength !== Math.min(file.size, HEAD_BYTES)) throw new Error('short read');
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

/** What our offer of `file` to `peerId` carries so that it can continue if sent again. */
export async function resumableFor(keys: SendAgainKeys, file: Blob, peerId: string): Promise<Resumable> {
  const [head, key] = await Promise.all([headHash(file), keys.keyFor(peerId)]);
  return { head, key };
}
