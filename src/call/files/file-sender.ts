/**
 * One outgoing file: reads ahead from the File in bounded slices (never the whole file) and
 * hands out chunks to the exchange's send loop. Its SHA-256 is computed beside it, off this
 * thread (`sha256`, from src/call/files/file-hash.ts).
 */
import type { FileOffer } from '../../protocol/peer-files.ts';
import type { Transfer } from './transfer.ts';

/** Chunks per read slice: a slice is a whole number of chunks so no frame straddles two. */
const CHUNKS_PER_SLICE = 16;
/** At most this many slices read but not yet sent (≈ 8 MiB with 256 KiB chunks). */
const SLICES_AHEAD = 2;

export class FileSender {
  private readonly slices: Uint8Array[] = [];
  private readOffset = 0;
  private reading = false;
  /** Bumped by `rewind`: a read still in flight is for the old position. */
  private generation = 0;
  /** Bytes handed to the data channel. */
  sent = 0;
  /** Bytes the receiver says it wrote. */
  acked = 0;
  /** False until the offer (and thumbnail) went out: offer → thumbnail → body. */
  bodyOpen = false;
  stopped = false;
  doneSent = false;
  /** The connection was lost: nothing is sent until the receiver says where to continue. */
  awaitingResume = false;
  /** The file-offer as sent (sent again, with `resume`, on a new connection). */
  offer: FileOffer | null = null;

  constructor(
    readonly transfer: Transfer,
    readonly index: number,
    private readonly file: Blob,
    private chunkBytes: number,
    /** The whole file's SHA-256, computed on its own read of the file. */
    readonly sha256: Promise<string>,
    private readonly onReadable: () => void,
    private readonly onReadError: () => void,
  ) {}

  get size(): number {
    return this.transfer.size;
  }

  get allSent(): boolean {
    return this.sent === this.size;
  }

  canSend(maxInFlight: number): boolean {
    return (
      this.bodyOpen &&
      !this.stopped &&
      !this.awaitingResume &&
      this.slices.length > 0 &&
      this.sent - this.acked < maxInFlight
    );
  }

  /** The next chunk (a view into a read slice) and its offset. Call only when canSend. */
  take(): { offset: number; bytes: Uint8Array } {
    const head = this.slices[0]!;
    const bytes = head.subarray(0, this.chunkBytes);
    if (bytes.byteLength === head.byteLength) this.slices.shift();
    else this.slices[0] = head.subarray(this.chunkBytes);
    const offset = this.sent;
    this.sent += bytes.byteLength;
    this.readAhead();
    return { offset, bytes };
  }

  /** Start the next read if fewer than SLICES_AHEAD slices are waiting. */
  readAhead(): void {
    if (this.reading || this.stopped || this.readOffset >= this.size) return;
    if (this.slices.length >= SLICES_AHEAD) return;
    this.reading = true;
    const generation = this.generation;
    const end = Math.min(this.size, this.readOffset + this.chunkBytes * CHUNKS_PER_SLICE);
    this.file
      .slice(this.readOffset, end)
      .arrayBuffer()
      .then(
        (buffer) => {
          if (generation !== this.generation) return;
          this.reading = false;
          if (this.stopped) return;
          if (buffer.byteLength !== end - this.readOffset) throw new Error('short read');
          this.slices.push(new Uint8Array(buffer));
          this.readOffset = end;
          this.readAhead();
          this.onReadable();
        },
        () => {
          if (generation !== this.generation) return;
          this.reading = false;
          if (!this.stopped) this.onReadError();
        },
      )
      .catch(() => {
        if (!this.stopped) this.onReadError();
      });
  }

  /**
   * Continue from `offset` (what the receiver has) on a new connection, with its frame size:
   * what was read ahead is dropped and read again from there.
   */
  rewind(offset: number, chunkBytes: number): void {
    this.generation += 1;
    this.reading = false;
    this.slices.length = 0;
    this.chunkBytes = chunkBytes;
    this.readOffset = offset;
    this.sent = offset;
    this.awaitingResume = false;
    this.readAhead();
  }

  stop(): void {
    this.stopped = true;
    this.slices.length = 0;
  }
}
