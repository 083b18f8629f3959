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

/** Bytes read at a time when hashing the part of a file before where sending starts. */
const PREFIX_SLICE = 8 * 1024 * 1024;

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
      // Continuing from where another document of ours got to: hash what comes before first.
      while (this.hashed < from) {
        const end = Math.min(from, this.hashed + PREFIX_SLICE);
        const prefix = new Uint8Array(await this.file.slice(this.hashed, end).arrayBuffer());
        if (prefix.byteLength !== end - this.hashed) throw new Error('short read');
        this.hasher.update(prefix);
        this.hashed = end;
      }
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

/** Messages between openFileReader and file-reader.worker.ts (both ends are ours). */
export type ReaderRequest =
  | { op: 'file'; key: number; file: Blob }
  | { op: 'read'; key: number; id: number; slice: SliceRequest }
  | { op: 'digest'; key: number; id: number }
  | { op: 'close'; key: number };
export type ReaderReply =
  | { op: 'frames'; id: number; frames: ArrayBuffer[] }
  | { op: 'digest'; id: number; sha256: string }
  | { op: 'failed'; id: number };

/** The file read on this thread. */
export function inThreadReader(file: Blob): FileReader {
  const core = new ReaderCore(file);
  return { read: (slice) => core.read(slice), digest: () => core.digest(), close() {} };
}

interface Waiter {
  key: number;
  request: { op: 'read'; slice: SliceRequest } | { op: 'digest' };
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/**
 * One worker reads every file this page sends (started by the first, kept for the next ones,
 * so only the first file of a call waits for a worker to start).
 */
class SharedReaderWorker {
  private worker: Worker | null;
  private nextKey = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiter>();
  /** Files read on this thread once the worker failed to start (a CSP, a platform quirk). */
  private readonly fallbacks = new Map<number, FileReader>();
  private readonly files = new Map<number, Blob>();
  private failed = false;

  constructor() {
    this.worker = new Worker(new URL('./file-reader.worker.ts', import.meta.url), {
      type: 'module',
      name: 'parley-file-reader',
    });
    this.worker.onmessage = (event: MessageEvent<ReaderReply>) => this.onReply(event.data);
    this.worker.onerror = () => this.fallBack();
  }

  open(file: Blob): FileReader {
    const key = this.nextKey++;
    this.files.set(key, file);
    if (this.failed) this.fallbacks.set(key, inThreadReader(file));
    else this.worker!.postMessage({ op: 'file', key, file } satisfies ReaderRequest);
    const ask = <T>(request: Waiter['request']): Promise<T> => {
      const fallback = this.fallbacks.get(key);
      if (fallback)
        return (request.op === 'read' ? fallback.read(request.slice) : fallback.digest()) as Promise<T>;
      const id = this.nextId++;
      return new Promise<T>((resolve, reject) => {
        this.waiting.set(id, { key, request, resolve: resolve as (value: unknown) => void, reject });
        this.worker!.postMessage({ ...request, key, id } satisfies ReaderRequest);
      });
    };
    return {
      read: (slice) => ask<ArrayBuffer[]>({ op: 'read', slice }),
      digest: () => ask<string>({ op: 'digest' }),
      close: () => {
        this.files.delete(key);
        this.fallbacks.delete(key);
        this.worker?.postMessage({ op: 'close', key } satisfies ReaderRequest);
        for (const [id, waiter] of this.waiting) {
          if (waiter.key !== key) continue;
          this.waiting.delete(id);
          waiter.reject(new Error('closed'));
        }
      },
    };
  }

  private onReply(reply: ReaderReply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    if (reply.op === 'frames') waiter.resolve(reply.frames);
    else if (reply.op === 'digest') waiter.resolve(reply.sha256);
    else waiter.reject(new Error('The file could not be read.'));
  }

  /** No worker after all: every open file is read here, its pending requests replayed in order. */
  private fallBack(): void {
    this.failed = true;
    this.worker?.terminate();
    this.worker = null;
    for (const [key, file] of this.files) this.fallbacks.set(key, inThreadReader(file));
    const pending = [...this.waiting.values()];
    this.waiting.clear();
    // Reads first (the hash follows them), then digests.
    for (const waiter of pending) {
      const reader = this.fallbacks.get(waiter.key);
      if (!reader) continue;
      const { request } = waiter;
      if (request.op === 'read') reader.read(request.slice).then(waiter.resolve, waiter.reject);
    }
    for (const waiter of pending) {
      const reader = this.fallbacks.get(waiter.key);
      if (reader && waiter.request.op === 'digest') reader.digest().then(waiter.resolve, waiter.reject);
    }
  }
}

let shared: SharedReaderWorker | null = null;

/** A reader for a file we send: in the page's reader worker, on this thread where there are no workers. */
export function openFileReader(file: Blob): FileReader {
  if (typeof Worker !== 'function') return inThreadReader(file);
  shared ??= new SharedReaderWorker();
  return shared.open(file);
}
