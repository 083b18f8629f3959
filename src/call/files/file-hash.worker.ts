/// <reference lib="webworker" />
/**
 * Hashes one outgoing file (SHA-256) off the page's main thread: the sender's biggest CPU
 * cost after the data channel itself. Reads the File on its own, in bounded slices.
 */
import { hashBlob } from './file-hash.ts';

declare const self: DedicatedWorkerGlobalScope;

self.onmessage = (event: MessageEvent<{ file: Blob }>) => {
  hashBlob(event.data.file).then(
    (sha256) => self.postMessage({ sha256 }),
    () => self.postMessage({ error: true }),
  );
};
