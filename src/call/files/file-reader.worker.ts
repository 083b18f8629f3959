/// <reference lib="webworker" />
/**
 * Reads, hashes and frames one outgoing file off the page's main thread
 * (src/call/files/file-reader.ts). Reads are handled one at a time, in order, so the hash
 * sees the file's bytes in order.
 */
import { ReaderCore, type ReaderReply, type ReaderRequest } from './file-reader.ts';

declare const self: DedicatedWorkerGlobalScope;

let core: ReaderCore | null = null;
let queue: Promise<void> = Promise.resolve();

const reply = (message: ReaderReply, transfer: Transferable[] = []) => self.postMessage(message, transfer);

self.onmessage = (event: MessageEvent<ReaderRequest>) => {
  const request = event.data;
  if (request.op === 'file') {
    core = new ReaderCore(request.file);
    return;
  }
  const reader = core;
  if (!reader) return;
  if (request.op === 'digest') {
    // Not queued behind reads: it resolves once the reads before it have hashed the last byte.
    reader.digest().then(
      (sha256) => reply({ op: 'digest', id: request.id, sha256 }),
      () => reply({ op: 'failed', id: request.id }),
    );
    return;
  }
  queue = queue.then(() =>
    reader.read(request.slice).then(
      (frames) => reply({ op: 'frames', id: request.id, frames }, frames),
      () => reply({ op: 'failed', id: request.id }),
    ),
  );
};
