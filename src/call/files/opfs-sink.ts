/**
 * Incoming files on a top-level page (the guest page, an offscreen document): written by one
 * dedicated worker into OPFS at parley-incoming/<session>/<transfer id>.
 *
 * Each page holds a Web Lock named after its session while it lives; at startup, session
 * folders whose lock nobody holds are leftovers of closed tabs (interrupted transfers, files
 * never saved) and are deleted.
 */
import type { FileSink, SinkCallbacks, SinkFactory } from './file-sink.ts';
import type { WriterReply, WriterRequest } from './opfs-writer-protocol.ts';

export const INCOMING_DIR = 'parley-incoming';
const LOCK_PREFIX = 'parley-incoming-';

function writeErrorSentence(name: string): string {
  return name === 'QuotaExceededError'
    ? 'The disk is full: the file could not be saved.'
    : 'The browser could not write the file to disk.';
}

interface Entry {
  callbacks: SinkCallbacks;
  digested?: (sha256: string) => void;
  positioned?: (total: number) => void;
  closed?: (file: File) => void;
  discarded?: () => void;
  failed?: (e: Error) => void;
}

export class OpfsSinkFactory implements SinkFactory {
  private workerInstance: Worker | null;
  private readonly session = crypto.randomUUID();
  private readonly pending = new Map<string, Entry>();
  private readyPromise: Promise<void> | null = null;
  private readonly startTimer: ReturnType<typeof setTimeout>;

  /**
   * Nothing starts while the call is being set up (the worker, the storage lock, sweeping
   * folders left by closed pages all compete with it for the page's main thread): the first
   * file starts it, or a few seconds after the call screen appears, whichever comes first.
   */
  constructor(worker?: Worker, startAfterMs = 3000) {
    this.workerInstance = worker ?? null;
    if (worker) worker.onmessage = (event: MessageEvent<WriterReply>) => this.onReply(event.data);
    this.startTimer = setTimeout(() => void this.ready, startAfterMs);
  }

  private get worker(): Worker {
    if (!this.workerInstance) {
      this.workerInstance = new Worker(new URL('./opfs-writer.worker.ts', import.meta.url), {
        type: 'module',
        name: 'parley-opfs-writer',
      });
      this.workerInstance.onmessage = (event: MessageEvent<WriterReply>) => this.onReply(event.data);
    }
    return this.workerInstance;
  }

  private get ready(): Promise<void> {
    if (!this.readyPromise) {
      clearTimeout(this.startTimer);
      void this.worker;
      this.readyPromise = this.holdLockAndClean();
    }
    return this.readyPromise;
  }

  private get dir(): string[] {
    return [INCOMING_DIR, this.session];
  }

  private async holdLockAndClean(): Promise<void> {
    await new Promise<void>((locked) => {
      void navigator.locks.request(`${LOCK_PREFIX}${this.session}`, () => {
        locked();
        return new Promise<never>(() => {}); // held until the page goes away
      });
    });
    await removeStaleSessions().catch(() => {});
  }

  private onReply(reply: WriterReply): void {
    const entry = this.pending.get(reply.key);
    if (!entry) return;
    switch (reply.op) {
      case 'written':
        entry.callbacks.onWritten(reply.total);
        return;
      case 'digest':
        entry.digested?.(reply.sha256);
        return;
      case 'position':
        entry.positioned?.(reply.total);
        return;
      case 'closed':
        this.pending.delete(reply.key);
        entry.closed?.(reply.file);
        return;
      case 'discarded':
        this.pending.delete(reply.key);
        entry.discarded?.();
        return;
      case 'error':
        this.pending.delete(reply.key);
        entry.failed?.(new Error(writeErrorSentence(reply.name)));
        entry.discarded?.();
        entry.callbacks.onError(
          writeErrorSentence(reply.name),
          reply.name === 'QuotaExceededError' ? 'no-space' : 'write-failed',
        );
        return;
    }
  }

  private post(request: WriterRequest, transfer: Transferable[] = []): void {
    this.worker.postMessage(request, transfer);
  }

  async create(id: string, _name: string, mime: string, callbacks: SinkCallbacks): Promise<FileSink> {
    await this.ready;
    const key = id;
    const entry: Entry = { callbacks };
    this.pending.set(key, entry);
    this.post({ op: 'open', key, dir: this.dir });
    let finished = false;
    return {
      write: (bytes) => {
        if (finished) return;
        // Hand the whole frame buffer to the worker (no copy); the header before byteOffset is skipped.
        this.post(
          {
            op: 'write',
            key,
            buffer: bytes.buffer as ArrayBuffer,
            byteOffset: bytes.byteOffset,
            byteLength: bytes.byteLength,
          },
          [bytes.buffer as ArrayBuffer],
        );
      },
      digest: () =>
        new Promise<string>((resolve, reject) => {
          entry.digested = resolve;
          entry.failed = reject;
          this.post({ op: 'digest', key });
        }),
      position: () =>
        new Promise<number>((resolve, reject) => {
          entry.positioned = resolve;
          entry.failed = reject;
          this.post({ op: 'position', key });
        }),
      close: () => {
        finished = true;
        return new Promise<File>((resolve, reject) => {
          entry.closed = (file) =>
            resolve(new File([file], file.name, { type: mime, lastModified: file.lastModified }));
          entry.failed = reject;
          this.post({ op: 'close', key });
        });
      },
      discard: () => {
        finished = true;
        return new Promise<void>((resolve) => {
          if (!this.pending.has(key)) this.pending.set(key, entry);
          entry.discarded = resolve;
          this.post({ op: 'discard', key, dir: this.dir });
        });
      },
    };
  }

  async freeBytes(): Promise<number | undefined> {
    try {
      const { quota, usage } = await navigator.storage.estimate();
      return quota === undefined ? undefined : quota - (usage ?? 0);
    } catch {
      return undefined;
    }
  }

  /** Delete everything this page received (its own session folder) and stop the worker. */
  async dispose(): Promise<void> {
    clearTimeout(this.startTimer);
    this.workerInstance?.terminate();
    try {
      const root = await navigator.storage.getDirectory();
      const incoming = await root.getDirectoryHandle(INCOMING_DIR);
      await incoming.removeEntry(this.session, { recursive: true });
    } catch {}
  }
}

/** Remove the folders of sessions whose page is gone (no one holds their lock). */
export async function removeStaleSessions(): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const incoming = await root.getDirectoryHandle(INCOMING_DIR, { create: true });
  const { held = [] } = await navigator.locks.query();
  const alive = new Set(held.map((lock) => lock.name));
  const stale: string[] = [];
  // @ts-expect-error: FileSystemDirectoryHandle is async-iterable in Chromium; lib.dom lacks keys().
  for await (const name of incoming.keys() as AsyncIterable<string>) {
    if (!alive.has(`${LOCK_PREFIX}${name}`)) stale.push(name);
  }
  for (const name of stale) await incoming.removeEntry(name, { recursive: true }).catch(() => {});
}
