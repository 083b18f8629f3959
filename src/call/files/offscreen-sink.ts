/**
 * Incoming files in the extension overlay, whose iframe has no storage: chunks are batched
 * (BATCH_BYTES per message, as byte arrays) and sent over a runtime port to the offscreen
 * document, whose writer worker hashes them, writes them to its origin private file system
 * and acknowledges what it wrote.
 */
import {
  ENSURE_WRITER,
  type OverlayToWriter,
  WRITER_PORT_NAME,
  type WriterToOverlay,
} from '../../offscreen/writer-protocol.ts';
import type { AdoptedSink, FileSink, SinkCallbacks, SinkFactory } from './file-sink.ts';

const BATCH_BYTES = 2 * 1024 * 1024;

/** Factories with a port to the writer (see leaveOffscreenWriters). */
const live = new Set<OffscreenSinkFactory>();

/**
 * This document goes away and the call goes on in another one: disconnect from the writer
 * now, so that the transfers closing with this document do not delete their unfinished
 * files (the writer keeps them for the next overlay to adopt).
 */
export function leaveOffscreenWriters(): void {
  for (const factory of live) factory.leave();
}

interface Entry {
  callbacks: SinkCallbacks;
  digested?: (sha256: string) => void;
  adopted?: (written: number | null) => void;
  closed?: (file: File) => void;
  discarded?: () => void;
  failed?: (error: Error) => void;
}

export class OffscreenSinkFactory implements SinkFactory {
  private port: chrome.runtime.Port | null = null;
  private connecting: Promise<chrome.runtime.Port> | null = null;
  private readonly entries = new Map<string, Entry>();
  private estimateWaiters: ((free: number | undefined) => void)[] = [];

  private left = false;

  private connect(): Promise<chrome.runtime.Port> {
    if (this.port) return Promise.resolve(this.port);
    if (this.left) return Promise.reject(new Error('This overlay is going away.'));
    this.connecting ??= (async () => {
      const answer = (await chrome.runtime.sendMessage(ENSURE_WRITER)) as { ok?: boolean } | undefined;
      if (!answer?.ok) throw new Error('The file writer could not start.');
      const port = chrome.runtime.connect({ name: WRITER_PORT_NAME });
      port.onMessage.addListener((message: WriterToOverlay) => this.onReply(message));
      port.onDisconnect.addListener(() => {
        this.port = null;
        this.connecting = null;
        for (const entry of this.entries.values()) {
          entry.adopted?.(null);
          entry.callbacks.onError('The file writer stopped.', 'write-failed');
        }
        this.entries.clear();
      });
      this.port = port;
      live.add(this);
      return port;
    })().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private onReply(reply: WriterToOverlay): void {
    if (reply.op === 'estimate') {
      for (const resolve of this.estimateWaiters) resolve(reply.free ?? undefined);
      this.estimateWaiters = [];
      return;
    }
    const entry = this.entries.get(reply.key);
    if (!entry) return;
    switch (reply.op) {
      case 'written':
        entry.callbacks.onWritten(reply.total);
        return;
      case 'digest':
        entry.digested?.(reply.sha256);
        return;
      case 'adopted':
        entry.adopted?.(reply.written);
        return;
      case 'closed':
        this.entries.delete(reply.key);
        entry.closed?.(reply.file);
        return;
      case 'discarded':
        this.entries.delete(reply.key);
        entry.discarded?.();
        return;
      case 'error': {
        this.entries.delete(reply.key);
        entry.failed?.(new Error(reply.message));
        entry.discarded?.();
        entry.callbacks.onError(reply.message, reply.noSpace ? 'no-space' : 'write-failed');
        return;
      }
    }
  }

  async create(id: string, name: string, mime: string, callbacks: SinkCallbacks): Promise<FileSink> {
    const port = await this.connect();
    const entry: Entry = { callbacks };
    this.entries.set(id, entry);
    port.postMessage({ op: 'open', key: id } satisfies OverlayToWriter);
    return this.sink(port, entry, id, name, mime);
  }

  /** Continue a file an earlier overlay of this call was receiving (the writer kept it). */
  async adopt(id: string, name: string, mime: string, callbacks: SinkCallbacks): Promise<AdoptedSink | null> {
    const port = await this.connect();
    const entry: Entry = { callbacks };
    this.entries.set(id, entry);
    const written = await new Promise<number | null>((resolve) => {
      entry.adopted = resolve;
      port.postMessage({ op: 'adopt', key: id } satisfies OverlayToWriter);
    });
    if (written === null) {
      this.entries.delete(id);
      return null;
    }
    return { sink: this.sink(port, entry, id, name, mime), written };
  }

  private sink(port: chrome.runtime.Port, entry: Entry, id: string, name: string, mime: string): FileSink {
    const post = (message: OverlayToWriter) => {
      if (this.port === port) port.postMessage(message);
    };
    const connected = () => this.port === port;
    let batch: Uint8Array[] = [];
    let batched = 0;
    let finished = false;
    const flush = () => {
      if (batched === 0) return;
      post({ op: 'write', key: id, chunks: batch as Uint8Array<ArrayBuffer>[] });
      batch = [];
      batched = 0;
    };
    return {
      write(bytes) {
        if (finished) return;
        batch.push(bytes);
        batched += bytes.byteLength;
        if (batched >= BATCH_BYTES) flush();
      },
      flush,
      digest() {
        flush();
        return new Promise<string>((resolve, reject) => {
          entry.digested = resolve;
          entry.failed = reject;
          post({ op: 'digest', key: id });
        });
      },
      close() {
        finished = true;
        flush();
        return new Promise<File>((resolve, reject) => {
          entry.closed = (file) =>
            resolve(new File([file], name, { type: mime, lastModified: file.lastModified }));
          entry.failed = reject;
          post({ op: 'close', key: id });
        });
      },
      discard() {
        finished = true;
        batch = [];
        return new Promise<void>((resolve) => {
          if (!connected()) {
            resolve();
            return;
          }
          entry.discarded = resolve;
          post({ op: 'discard', key: id });
        });
      },
    };
  }

  async freeBytes(): Promise<number | undefined> {
    const port = await this.connect();
    return new Promise((resolve) => {
      this.estimateWaiters.push(resolve);
      port.postMessage({ op: 'estimate' } satisfies OverlayToWriter);
    });
  }

  /** The writer deletes this overlay's files when the port closes. */
  dispose(): void {
    live.delete(this);
    this.port?.disconnect();
    this.port = null;
  }

  /** See leaveOffscreenWriters: nothing more is written, discarded or reported from here. */
  leave(): void {
    live.delete(this);
    this.left = true;
    this.entries.clear();
    const port = this.port;
    this.port = null;
    port?.disconnect();
  }
}
