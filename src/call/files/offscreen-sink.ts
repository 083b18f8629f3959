/**
 * Incoming files in the extension overlay, whose iframe has no storage: chunks are batched
 * (BATCH_BYTES per message) and sent to the offscreen document, whose writer worker hashes
 * them, writes them to its origin private file system and acknowledges what it wrote.
 * Everything the overlay sends goes on a direct MessagePort, chunks' buffers transferred,
 * when the service worker could hand one over (writer-protocol.ts, WRITER_CHANNEL), else as
 * byte arrays on the runtime port, which always carries the replies and whose end tells the
 * writer this overlay went away.
 */
import {
  ENSURE_WRITER,
  type OverlayToWriter,
  WRITER_CHANNEL,
  WRITER_PORT_NAME,
  type WriterToOverlay,
} from '../../offscreen/writer-protocol.ts';
import type { FileKeeper, KeptSend } from './exchange-context.ts';
import type { AdoptedSink, FileSink, SinkCallbacks, SinkFactory } from './file-sink.ts';

const BATCH_BYTES = 2 * 1024 * 1024;
/** How long the direct channel may take to be set up before the runtime port carries the chunks. */
const CHANNEL_WAIT_MS = 2000;

type Send = (message: OverlayToWriter, transfer?: Transferable[]) => void;

/**
 * Ask the service worker to hand a MessagePort to the writer, and the writer to bind it to
 * this runtime port; null when that does not happen in time (no service worker reachable
 * from this frame, an older writer).
 */
async function openChannel(port: chrome.runtime.Port): Promise<MessagePort | null> {
  const container = navigator.serviceWorker as ServiceWorkerContainer | undefined;
  if (!container) return null;
  const channel = new MessageChannel();
  const token = crypto.randomUUID();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), CHANNEL_WAIT_MS);
  });
  const bound = (async () => {
    const registration = await container.ready;
    const worker = registration.active;
    if (!worker) return null;
    const answered = new Promise<MessagePort>((resolve) => {
      channel.port1.onmessage = (event: MessageEvent<WriterToOverlay>) => {
        if (event.data?.op === 'bound') resolve(channel.port1);
      };
    });
    worker.postMessage({ parley: WRITER_CHANNEL, token }, [channel.port2]);
    port.postMessage({ op: 'bind', token } satisfies OverlayToWriter);
    return answered;
  })();
  const result = await Promise.race([bound, timeout]).catch(() => null);
  clearTimeout(timer);
  if (!result) channel.port1.close();
  else channel.port1.onmessage = null;
  return result;
}

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

export class OffscreenSinkFactory implements SinkFactory, FileKeeper {
  private port: chrome.runtime.Port | null = null;
  /** The direct channel of `port`, if it could be set up (see openChannel). */
  private channel: MessagePort | null = null;
  /** Sends on `port`'s connection: on its direct channel when there is one, else on the port. */
  private send: Send = () => {};
  /**
   * The port once `send` is final (its direct channel set up or given up on), shared by every
   * caller from the first one until the port goes away. Nobody gets the port sooner: until
   * then `send` drops what it is given (an `adopt`, `open` or `estimate` that would never be
   * answered, leaving its file "Starting…" for good).
   */
  private connecting: Promise<chrome.runtime.Port> | null = null;
  private readonly entries = new Map<string, Entry>();
  private estimateWaiters: ((free: number | undefined) => void)[] = [];
  private readonly reclaimWaiters = new Map<string, ((files: KeptSend[]) => void)[]>();

  private left = false;

  private connect(): Promise<chrome.runtime.Port> {
    if (this.left) return Promise.reject(new Error('This overlay is going away.'));
    if (this.connecting) return this.connecting;
    const connecting = (async () => {
      const answer = (await chrome.runtime.sendMessage(ENSURE_WRITER)) as { ok?: boolean } | undefined;
      if (!answer?.ok) throw new Error('The file writer could not start.');
      const port = chrome.runtime.connect({ name: WRITER_PORT_NAME });
      port.onMessage.addListener((message: WriterToOverlay) => this.onReply(message));
      port.onDisconnect.addListener(() => {
        this.port = null;
        this.closeChannel();
        this.connecting = null;
        for (const waiters of this.reclaimWaiters.values()) for (const resolve of waiters) resolve([]);
        this.reclaimWaiters.clear();
        for (const entry of this.entries.values()) {
          entry.adopted?.(null);
          entry.callbacks.onError('The file writer stopped.', 'write-failed');
        }
        this.entries.clear();
      });
      this.port = port;
      live.add(this);
      const channel = await openChannel(port);
      if (this.port !== port) {
        channel?.close();
        throw new Error('The file writer stopped.');
      }
      this.channel = channel;
      this.send = channel
        ? (message, transfer = []) => channel.postMessage(message, transfer)
        : (message) => port.postMessage(message);
      return port;
    })();
    this.connecting = connecting;
    connecting.catch(() => {
      if (this.connecting === connecting) this.connecting = null;
    });
    return connecting;
  }

  private closeChannel(): void {
    this.channel?.close();
    this.channel = null;
    this.send = () => {};
  }

  private onReply(reply: WriterToOverlay): void {
    if (reply.op === 'estimate') {
      for (const resolve of this.estimateWaiters) resolve(reply.free ?? undefined);
      this.estimateWaiters = [];
      return;
    }
    if (reply.op === 'bound') return;
    if (reply.op === 'reclaimed') {
      const waiters = this.reclaimWaiters.get(reply.peer) ?? [];
      this.reclaimWaiters.delete(reply.peer);
      for (const resolve of waiters)
        resolve(reply.files.map(({ key, index, file }) => ({ id: key, index, file })));
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
    this.send({ op: 'open', key: id });
    return this.sink(port, entry, id, name, mime);
  }

  /** Continue a file an earlier overlay of this call was receiving (the writer kept it). */
  async adopt(id: string, name: string, mime: string, callbacks: SinkCallbacks): Promise<AdoptedSink | null> {
    const port = await this.connect();
    const entry: Entry = { callbacks };
    this.entries.set(id, entry);
    const written = await new Promise<number | null>((resolve) => {
      entry.adopted = resolve;
      this.send({ op: 'adopt', key: id });
    });
    if (written === null) {
      this.entries.delete(id);
      return null;
    }
    return { sink: this.sink(port, entry, id, name, mime), written };
  }

  private sink(port: chrome.runtime.Port, entry: Entry, id: string, name: string, mime: string): FileSink {
    const send = this.send;
    const post: Send = (message, transfer) => {
      if (this.port === port) send(message, transfer);
    };
    const connected = () => this.port === port;
    let batch: Uint8Array[] = [];
    let batched = 0;
    let finished = false;
    const flush = () => {
      if (batched === 0) return;
      // Each chunk is a view of its own frame's buffer, which nothing reads after write().
      const buffers = [...new Set(batch.map((chunk) => chunk.buffer as ArrayBuffer))];
      post({ op: 'write', key: id, chunks: batch as Uint8Array<ArrayBuffer>[] }, buffers);
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

  async keep(peerId: string, id: string, index: number, file: File): Promise<void> {
    await this.connect();
    this.send({ op: 'keep', key: id, peer: peerId, index, file });
  }

  release(id: string): void {
    void this.connecting?.then(
      () => this.send({ op: 'release', key: id }),
      () => {},
    );
  }

  async reclaim(peerId: string): Promise<KeptSend[]> {
    await this.connect();
    return new Promise((resolve) => {
      const waiters = this.reclaimWaiters.get(peerId) ?? [];
      waiters.push(resolve);
      this.reclaimWaiters.set(peerId, waiters);
      this.send({ op: 'reclaim', peer: peerId });
    });
  }

  async freeBytes(): Promise<number | undefined> {
    await this.connect();
    return new Promise((resolve) => {
      this.estimateWaiters.push(resolve);
      this.send({ op: 'estimate' });
    });
  }

  /** The writer deletes this overlay's files when the port closes. */
  dispose(): void {
    live.delete(this);
    this.closeChannel();
    this.port?.disconnect();
    this.port = null;
    this.connecting = null;
  }

  /** See leaveOffscreenWriters: nothing more is written, discarded or reported from here. */
  leave(): void {
    live.delete(this);
    this.left = true;
    this.entries.clear();
    const port = this.port;
    this.port = null;
    this.connecting = null;
    this.closeChannel();
    port?.disconnect();
  }
}
