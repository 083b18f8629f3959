/**
 * Frees an ArrayBuffer's memory now rather than at the next garbage collection: transferring
 * it to a buffer of length 0 detaches it (ES2024 `ArrayBuffer.prototype.transfer`). A busy
 * transfer allocates a quarter-MiB buffer per frame, and a worker that only writes them out
 * allocates little else, so its garbage collector would let tens of MiB of written buffers
 * pile up before running. Only for buffers nothing else reads any more; a no-op where the
 * method is missing.
 */
export function releaseBuffer(buffer: ArrayBufferLike): void {
  const transfer = (buffer as { transfer?: (length?: number) => ArrayBuffer }).transfer;
  if (typeof transfer !== 'function' || (buffer as { detached?: boolean }).detached) return;
  try {
    transfer.call(buffer, 0);
  } catch {
    // Not transferable (a SharedArrayBuffer, a wasm memory): left to the collector.
  }
}
