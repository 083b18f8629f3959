/**
 * One incoming file: checks each body frame against what the offer announced, hashes it, and
 * streams it to a FileSink. Frames that arrive before the sink is open wait in a queue
 * (bounded by MAX_UNWRITTEN_BYTES, which an honest sender never reaches).
 */

import type { Resumable } from '../../protocol/peer-files.ts';
import type { BlockHasher } from './block-hash.ts';
import type { FileSink, SinkCallbacks } from './file-sink.ts';
import type { ShelvedPartial } from './partial-shelf.ts';
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
  /** From the offer: what lets the same person continue this file if they send it again. */
  resumable: Resumable | null = null;
  /** The name as offered (the transfer's is made safe for showing). */
  offeredName = '';
  /** On the partial shelf (partial-shelf.ts) while its link is paused or gone. */
  shelved: ShelvedPartial | null = null;
  private waiting: Uint8Array[] = [];

  private hasher: BlockHasher | null = null;
  /** Where the sink's callbacks go: this receiver's owner, or the one's that took the sink over. */
  private route: { target: SinkCallbacks | null } = { target: null };

  constructor(
    readonly transfer: Transfer,
    readonly index: number,
  ) {}

  /** Callbacks for this receiver's sink, sent on to `target` (so that another receiver can take the sink over). */
  sinkCallbacks(target: SinkCallbacks): SinkCallbacks {
    const route = { target };
    this.route = route;
    return {
      onWritten: (total) => route.target?.onWritten(total),
      onError: (message, reason) => route.target?.onError(message, reason),
    };
  }

  /**
   * Continue `earlier`'s file (its sender's document went away and they sent the same file
   * again): its sink, its running hash and its bytes become this receiver's; the sink's
   * callbacks come here (`target`).
   */
  takeOver(earlier: FileReceiver, target: SinkCallbacks): void {
    this.sink = earlier.sink;
    this.hasher = earlier.hasher;
    this.received = earlier.received;
    this.written = earlier.written;
    this.lastAcked = earlier.written;
    this.transfer.bytes = earlier.written;
    this.route = earlier.route;
    this.route.target = target;
    earlier.route = { target: null };
    earlier.sink = null;
    earlier.hasher = null;
  }

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
