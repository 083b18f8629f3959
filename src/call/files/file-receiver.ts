/**
 * One incoming file: checks each body frame against what the offer announced, hashes it, and
 * streams it to a FileSink. Frames that arrive before the sink is open wait in a queue
 * (bounded by MAX_UNWRITTEN_BYTES, which an honest sender never reaches).
 */

import type { BlockHasher } from './block-hash.ts';
import type { FileSink } from './file-sink.ts';
import type { Transfer } from './transfer.ts';

/** A sender that ignores our acknowledgements (honest ones stop at 16 MiB in flight). */
export const MAX_UNWRITTEN_BYTES = 96 * 1024 * 1024;

export type FrameVerdict = 'ok' | 'bad-offset' | 'too-long' | 'flooding';

export class FileReceiver {
  /** Bytes accepted from the peer (hashed, handed to the sink). */
  received = 0;
  written = 0;
  lastAcked = 0;
  sink: FileSink | null = null;
  /** The sender's SHA-256, once its file-done arrived (may come before the last frames). */
  announcedSha: string | null = null;
  finishing = false;
  private waiting: Uint8Array[] = [];

  private hasher: BlockHasher | null = null;

  constructor(
    readonly transfer: Transfer,
    readonly index: number,
  ) {}

  get complete(): boolean {
    return this.received === this.transfer.size;
  }

  accept(offset: number, body: Uint8Array): FrameVerdict {
    if (offset !== this.received) return 'bad-offset';
    if (offset + body.byteLength > this.transfer.size) return 'too-long';
    if (this.received + body.byteLength - this.written > MAX_UNWRITTEN_BYTES) return 'flooding';
    this.received += body.byteLength;
    if (this.sink) {
      this.hasher?.update(body);
      this.sink.write(body);
    } else {
      this.waiting.push(body);
    }
    return 'ok';
  }

  /**
   * Storage (and our hasher, unless the sink hashes) is ready: pass on what arrived meanwhile,
   * then stream directly.
   */
  attach(sink: FileSink, hasher: BlockHasher | null): void {
    this.sink = sink;
    this.hasher = hasher;
    for (const body of this.waiting) {
      hasher?.update(body);
      sink.write(body);
    }
    this.waiting = [];
  }

  /** Continue a file whose first `written` bytes an earlier document received (the sink holds them). */
  startAt(written: number): void {
    this.received = written;
    this.written = written;
    this.lastAcked = written;
    this.transfer.bytes = written;
  }

  /** The SHA-256 of what was received. Valid once complete, attached and all written. */
  digest(): Promise<string> {
    if (this.sink?.digest) return this.sink.digest();
    return this.hasher!.digestHex();
  }

  drop(): void {
    this.waiting = [];
  }
}
