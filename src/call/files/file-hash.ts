/**
 * The SHA-256 of a file being sent. The sender reads the file twice, once to send it and once
 * here, in a worker where there is one: hashing at the rate the link runs costs the page's
 * main thread more than anything else in a transfer, and that thread also feeds the data
 * channel. Both reads fail alike if the file changes on disk (Chromium checks a file-backed
 * Blob's size and modification time on every read).
 */
import { IncrementalHasher } from './incremental-hasher.ts';

/** Bytes read per step (bounded memory whatever the size). */
const SLICE_BYTES = 4 * 1024 * 1024;

/** SHA-256 of `blob` on this thread, read in slices. Rejects if a read fails. */
export async function hashBlob(blob: Blob): Promise<string> {
  const hasher = await IncrementalHasher.create();
  for (let at = 0; at < blob.size; at += SLICE_BYTES) {
    const end = Math.min(blob.size, at + SLICE_BYTES);
    const bytes = new Uint8Array(await blob.slice(at, end).arrayBuffer());
    if (bytes.byteLength !== end - at) throw new Error('short read');
    hasher.update(bytes);
  }
  return hasher.digestHex();
}

/** SHA-256 of `file`, in a dedicated worker when the platform has them. */
export function hashFile(file: Blob): Promise<string> {
  if (typeof Worker !== 'function') return hashBlob(file);
  return new Promise<string>((resolve, reject) => {
    const worker = new Worker(new URL('./file-hash.worker.ts', import.meta.url), {
      type: 'module',
      name: 'parley-file-hash',
    });
    const done = () => worker.terminate();
    worker.onmessage = (event: MessageEvent<{ sha256?: string }>) => {
      done();
      if (event.data.sha256) resolve(event.data.sha256);
      else reject(new Error('The file could not be read.'));
    };
    worker.onerror = () => {
      done();
      // No worker after all (a CSP, a platform quirk): hash here instead.
      hashBlob(file).then(resolve, reject);
    };
    worker.postMessage({ file });
  });
}
