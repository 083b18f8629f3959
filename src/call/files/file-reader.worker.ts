/// <reference lib="webworker" />
/**
 * Reads, hashes and frames the files a page sends, off its main thread
 * (src/call/files/file-reader.ts). Each file's reads are handled one at a time, in order, so
 * its hash sees its bytes in order.
 */
import { ReaderCore, type ReaderReply, type ReaderRequest } from './file-reader.ts';

declare const self: DedicatedWorkerGlobalScope;

interface Open {
  core: ReaderCore;
  queue: Promise<void>;
}
const files = new Map<number, Open>();

const reply = (message: ReaderReply, transfer: Transferable[] = []) => self.postMessage(message, transfer);

self.onmessage = (event: MessageEvent<ReaderRequest>) => {
  const request = event.data;
  if (request.op === 'file') {
    files.set(request.key, { core: new ReaderCore(request.file), queue: Promise.resolve() });
    return;
  }
  if (request.op === 'close') {
    files.delete(request.key);
    return;
  }
  const open = files.get(request.key);
  if (!open) {
    reply({ op: 'failed', id: request.id });
    return;
  }
  if (request.op === 'digest') {
    // Not queued behind reads: it resolves once the reads before it have hashed the last byte.
    open.core.digest().then(
      (sha256) => reply({ op: 'digest', id: request.id, sha256 }),
      () => reply({ op: 'failed', id: request.id }),
    );
    return;
  }
  open.queue = open.queue.then(() =>
    open.core.read(request.slice).then(
      (frames) => reply({ op: 'frames', id: request.id, frames }, frames),
      () => reply({ op: 'failed', id: request.id }),
    ),
  );
};
