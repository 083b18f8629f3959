/**
 * Reads a file being sent, once: each slice is read, hashed (src/call/files/block-hash.ts, in
 * order) and cut into ready-to-send body frames (header + bytes) in a dedicated worker where
 * there is one, so the page's main thread, which feeds the data channel, only sends them.
 * Frames come back transferred, not copied. A slice read again after a rewind (a resumed
 * transfer) is not hashed twice: the hash covers [0, hashed) and only grows.
 * Both the worker and the fallback (no Worker: Node tests, a CSP that refuses it) run
 * ReaderCore. If the file changes on disk, reads fail (Chromium checks a file-backed Blob's
 * size and modification time on every read).
 */

import { BlockHasher } from './block-hash.ts';
import { encodeBodyFrame } from './frame.ts';

export interface SliceRequest {
  from: number;
  to: number;
  chunkBytes: number;
  /** The transfer's index, written into every frame's header. */
  index: number;
}

export interface FileReader {
  /** Body frames for bytes [from, to): `chunkBytes` each (the last may be shorter). */
  read(request: SliceRequest): Promise<ArrayBuffer[]>;
  /** SHA-256 of the whole file; resolves once every byte was read (rejects if a read failed). */
  digest(): Promise<string>;
  close(): void;
}

/** Reads, hashes and frames one file; used in the worker and on the page alike. */
export class ReaderCore {
  private readonly hasher = new BlockHasher();
  private hashed = 0;
  private failed = false;
  private digestWaiters: { resolve(sha: string): void; reject(e: Error): void }[] = [];
  private sha256: Promise<string> | null = null;

  constructor(private readonly file: Blob) {}

  async read({ from, to, chunkBytes, index }: SliceRequest): Promise<ArrayBuffer[]> {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await this.file.slice(from, to).arrayBuffer());
      if (bytes.byteLength !== to - from) throw new Error('short read');
    } catch (error) {
      this.fail();
      throw error;
    }
    if (from <= this.hashed && to > this.hashed) {
      this.hasher.update(bytes.subarray(this.hashed - from));
      this.hashed = to;
      if (this.hashed === this.file.size) this.finishHash();
    }
    const frames: ArrayBuffer[] = [];
    for (let at = 0; at < bytes.byteLength; at += chunkBytes) {
      frames.push(encodeBodyFrame(index, from + at, bytes.subarray(at, at + chunkBytes)));
    }
    return frames;
  }

  digest(): Promise<string> {
    if (this.file.size === 0) this.finishHash();
    if (this.sha256 !== null) return this.sha256;
    if (this.failed) return Promise.reject(new Error('The file could not be read.'));
    return new Promise((resolve, reject) => this.digestWaiters.push({ resolve, reject }));
  }

  private finishHash(): void {
    this.sha256 ??= this.hasher.digestHex();
    for (const waiter of this.digestWaiters.splice(0)) this.sha256.then(waiter.resolve, waiter.reject);
  }

  private fail(): void {
    this.failed = true;
    for (const waiter of this.digestWaiters.splice(0))
      waiter.reject(new Error('The file could not be read.'));
  }
}

/** Messages between WorkerFileReader and file-reader.worker.ts (both ends are ours). */
export type ReaderRequest =
  | { op: 'file'; file: Blob }
  | { op: 'read'; id: number; slice: SliceRequest }
  | { op: 'digest'; id: number };
export type ReaderReply =
  | { op: 'frames'; id: number; frames: ArrayBuffer[] }
  | { op: 'digest'; id: number; sha256: string }
  | { op: 'failed'; id: number };

/** The file read on this thread. */
export function inThreadReader(file: Blob): FileReader {
  const core = new ReaderCore(file);
  return { read: (slice) => core.read(slice), digest: () => core.digest(), close() {} };
}

/** The file read in a dedicated worker; on this thread if the worker cannot start. */
export function openFileReader(file: Blob): FileReader {
  if (typeof Worker !== 'function') return inThreadReader(file);
  let worker: Worker | null = new Worker(new URL('./file-reader.worker.ts', import.meta.url), {
    type: 'module',
    name: 'parley-file-reader',
  });
  let fallback: FileReader | null = null;
  let nextId = 0;
  type Waiter = { request: ReaderRequest; resolve(value: unknown): void; reject(e: Error): void };
  const waiting = new Map<number, Waiter>();
  const useFallback = () => {
    worker?.terminate();
    worker = null;
    fallback = inThreadReader(file);
    // Replayed in order: reads first (the hash follows them), then digests.
    for (const waiter of [...waiting.values()]) {
      const { request } = waiter;
      if (request.op === 'read') fallback.read(request.slice).then(waiter.resolve, waiter.reject);
      else fallback.digest().then(waiter.resolve, waiter.reject);
    }
    waiting.clear();
  };
  worker.onmessage = (event: MessageEvent<ReaderReply>) => {
    const reply = event.data;
    const waiter = waiting.get(reply.id);
    if (!waiter) return;
    waiting.delete(reply.id);
    if (reply.op === 'frames') waiter.resolve(reply.frames);
    else if (reply.op === 'digest') waiter.resolve(reply.sha256);
    else waiter.reject(new Error('The file could not be read.'));
  };
  // No worker after all (a CSP, a platform quirk): read here instead.
  worker.onerror = useFallback;
  worker.postMessage({ op: 'file', file } satisfies ReaderRequest);
  const ask = <T>(make: (id: number) => ReaderRequest): Promise<T> => {
    const request = make(nextId++);
    return new Promise<T>((resolve, reject) => {
      waiting.set((request as { id: number }).id, {
        request,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      worker!.postMessage(request);
    });
  };
  return {
    read(slice) {
      if (fallback) return fallback.read(slice);
      return ask<ArrayBuffer[]>((id) => ({ op: 'read', id, slice }));
    },
    digest() {
      if (fallback) return fallback.digest();
      return ask<string>((id) => ({ op: 'digest', id }));
    },
    close() {
      worker?.terminate();
      worker = null;
      for (const waiter of waiting.values()) waiter.reject(new Error('closed'));
      waiting.clear();
    },
  };
}
