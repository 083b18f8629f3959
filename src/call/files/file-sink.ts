/**
 * Where a received file's bytes go as they arrive, so memory stays bounded whatever the size.
 * Two implementations: OpfsSink (guest page: a worker writing to the origin private file
 * system) and OffscreenSink (extension overlay: the iframe has no storage, so chunks go in
 * Blobs to the extension's offscreen document, which writes them to its own OPFS).
 */
export interface FileSink {
  /** Append bytes (in order). The sink may take ownership of `bytes.buffer`. */
  write(bytes: Uint8Array): void;
  /** Every byte has arrived: write out anything batched (acknowledgements wait for it). */
  flush?(): void;
  /**
   * Sinks that hash what they write, off the page's main thread (the OPFS writer worker):
   * the SHA-256 of every byte written, asked once all of them were. Without it the receiver
   * hashes on its own thread.
   */
  digest?(): Promise<string>;
  /** How many bytes are written, once every earlier write is (the OPFS writer). */
  position?(): Promise<number>;
  /** All bytes written and flushed; resolves to the disk-backed file. */
  close(): Promise<File>;
  /** Delete whatever was written (cancelled, interrupted, corrupted). Never throws. */
  discard(): Promise<void>;
}

export type SinkFailure = 'no-space' | 'write-failed';

export interface SinkCallbacks {
  /** Total bytes safely written so far (drives acknowledgements and progress). */
  onWritten(total: number): void;
  /** Writing failed (`no-space`: the disk or the quota is full); the transfer must stop. */
  onError(message: string, reason: SinkFailure): void;
}

export interface SinkFactory {
  /** A new sink for one incoming transfer; `id` names its storage. */
  create(id: string, name: string, mime: string, callbacks: SinkCallbacks): Promise<FileSink>;
  /**
   * The partial file `id` kept from an earlier document, to continue it (the extension's
   * offscreen writer keeps an overlay's unfinished files a while after the overlay went away:
   * re-mounted, or moved to the call window), with the bytes it holds; null when there is none.
   */
  adopt?(id: string, name: string, mime: string, callbacks: SinkCallbacks): Promise<AdoptedSink | null>;
  /** Bytes we may still store, or undefined when the browser will not say. */
  freeBytes(): Promise<number | undefined>;
}

export interface AdoptedSink {
  sink: FileSink;
  /** Bytes already in it (the next write goes there). */
  written: number;
}
