/// <reference lib="webworker" />
/**
 * Dedicated worker that writes incoming files to the origin private file system with
 * synchronous access handles (only allowed in workers, and the fastest way to write there),
 * and hashes them as it writes (src/call/files/block-hash.ts; off the page's main thread, which
 * handles the data channel).
 * Messages are handled strictly in order, so a write never overtakes its open. Each chunk's
 * bytes are freed as soon as they are written and hashed (chunk-release.ts).
 */
import { BlockHasher } from './block-hash.ts';
import { terminatedWorkerRelease } from './chunk-release.ts';
import type { WriterReply, WriterRequest } from './opfs-writer-protocol.ts';

declare const self: DedicatedWorkerGlobalScope;

interface OpenFile {
  handle: FileSystemSyncAccessHandle;
  written: number;
  dir: FileSystemDirectoryHandle;
  name: string;
  hasher: BlockHasher;
}

const open = new Map<string, OpenFile>();
let queue: Promise<void> = Promise.resolve();
/** Created on the first write; the worker it posts to is this script, never started. */
let release: ((buffer: ArrayBuffer) => void) | null = null;

function reply(message: WriterReply): void {
  self.postMessage(message);
}

async function directory(path: readonly string[]): Promise<FileSystemDirectoryHandle> {
  let dir = await navigator.storage.getDirectory();
  for (const part of path) dir = await dir.getDirectoryHandle(part, { create: true });
  return dir;
}

async function handle(request: WriterRequest): Promise<void> {
  switch (request.op) {
    case 'open': {
      const dir = await directory(request.dir);
      const fileHandle = await dir.getFileHandle(request.key, { create: true });
      const access = await fileHandle.createSyncAccessHandle();
      access.truncate(0);
      open.set(request.key, {
        handle: access,
        written: 0,
        dir,
        name: request.key,
        hasher: new BlockHasher(),
      });
      return;
    }
    case 'write': {
      release ??= terminatedWorkerRelease(self.location.href);
      const file = open.get(request.key);
      if (!file) {
        release(request.buffer); // discarded meanwhile
        return;
      }
      const bytes = new Uint8Array(request.buffer, request.byteOffset, request.byteLength);
      let done = 0;
      while (done < bytes.byteLength) {
        done += file.handle.write(bytes.subarray(done), { at: file.written + done });
      }
      file.written += bytes.byteLength;
      // The hasher copies what it needs before update() returns (block-hash.ts), so the
      // buffer is free to go.
      file.hasher.update(bytes);
      release(request.buffer);
      reply({ op: 'written', key: request.key, total: file.written });
      return;
    }
    case 'digest': {
      const file = open.get(request.key);
      if (!file) return;
      reply({ op: 'digest', key: request.key, sha256: await file.hasher.digestHex() });
      return;
    }
    case 'position': {
      const file = open.get(request.key);
      if (!file) throw new DOMException('not open', 'NotFoundError');
      reply({ op: 'position', key: request.key, total: file.written });
      return;
    }
    case 'close': {
      const file = open.get(request.key);
      if (!file) return;
      file.handle.flush();
      file.handle.close();
      open.delete(request.key);
      const fileHandle = await file.dir.getFileHandle(file.name);
      reply({ op: 'closed', key: request.key, file: await fileHandle.getFile() });
      return;
    }
    case 'discard': {
      const file = open.get(request.key);
      if (file) {
        file.handle.close();
        open.delete(request.key);
      }
      const dir = await directory(request.dir);
      await dir.removeEntry(request.key).catch(() => {});
      reply({ op: 'discarded', key: request.key });
      return;
    }
  }
}

self.onmessage = (event: MessageEvent<WriterRequest>) => {
  const request = event.data;
  queue = queue.then(() =>
    handle(request).catch((error: unknown) => {
      const file = open.get(request.key);
      if (file) {
        try {
          file.handle.close();
        } catch {}
        open.delete(request.key);
      }
      const name = error instanceof DOMException ? error.name : 'Error';
      reply({ op: 'error', key: request.key, name });
    }),
  );
};
