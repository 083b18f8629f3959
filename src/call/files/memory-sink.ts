/**
 * A sink that keeps the bytes as a list of Blobs (Chromium moves large Blob data out of the
 * renderer's heap). Only for tests and as a last resort when no disk sink exists.
 */
import type { FileSink, SinkCallbacks, SinkFactory } from './file-sink.ts';

export class BlobListSink implements FileSink {
  private parts: Blob[] = [];
  private written = 0;

  constructor(
    private readonly name: string,
    private readonly mime: string,
    private readonly callbacks: SinkCallbacks,
  ) {}

  write(bytes: Uint8Array): void {
    this.parts.push(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    this.written += bytes.byteLength;
    this.callbacks.onWritten(this.written);
  }

  async close(): Promise<File> {
    return new File(this.parts, this.name, { type: this.mime });
  }

  async discard(): Promise<void> {
    this.parts = [];
  }
}

export const blobListSinks: SinkFactory = {
  async create(_id, name, mime, callbacks) {
    return new BlobListSink(name, mime, callbacks);
  },
  async freeBytes() {
    return undefined;
  },
};
