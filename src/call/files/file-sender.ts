/**
 * One outgoing file: reads ahead in bounded slices (never the whole file) through a
 * FileReader (src/call/files/file-reader.ts), which hashes each slice as it is read and cuts
 * it into ready-to-send body frames, and hands those frames to the exchange's send loop.
 */
import type { FileOffer } from '../../protocol/peer-files.ts';
import { FRAME_HEADER_BYTES } from '../../protocol/peer-files.ts';
import type { FileReader } from './file-reader.ts';
import type { Transfer } from './transfer.ts';

/** Chunks per read slice: a slice is a whole number of chunks so no frame straddles two. */
const CHUNKS_PER_SLICE = 16;
/** At most about this many slices read but not yet sent (≈ 8 MiB with 256 KiB chunks). */
const SLICES_AHEAD = 2;

export class FileSender {
  /** Frames read (and framed), not yet sent, in order. */
  private readonly frames: ArrayBuffer[] = [];
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
  /** The offer is complete and was sent (or waits for the link): a new connection offers it again. */
  offered = false;
  /** Whether the frames read ahead may not start at 0 any more (one was taken, or it rewound). */
  private moved = false;

  constructor(
    readonly transfer: Transfer,
    readonly index: number,
    private readonly reader: FileReader,
    private chunkBytes: number,
    private readonly onReadable: () => void,
    private readonly onReadError: () => void,
  ) {}

  get size(): number {
    return this.transfer.size;
  }

  get allSent(): boolean {
    return this.sent === this.size;
  }

  /** The whole file's SHA-256 (every byte has been read once all were sent). */
  sha256(): Promise<string> {
    return this.reader.digest();
  }

  canSend(maxInFlight: number): boolean {
    return (
      this.bodyOpen &&
      !this.stopped &&
      !this.awaitingResume &&
      this.frames.length > 0 &&
      this.sent - this.acked < maxInFlight
    );
  }

  /** The next body frame (header + bytes), ready for the channel. Call only when canSend. */
  take(): ArrayBuffer {
    const frame = this.frames.shift()!;
    this.moved = true;
    this.sent += frame.byteLength - FRAME_HEADER_BYTES;
    this.readAhead();
    return frame;
  }

  /** Start the next read if fewer than SLICES_AHEAD slices are waiting. */
  readAhead(): void {
    if (this.reading || this.stopped || this.readOffset >= this.size) return;
    if (this.frames.length > CHUNKS_PER_SLICE * (SLICES_AHEAD - 1)) return;
    this.reading = true;
    const generation = this.generation;
    const from = this.readOffset;
    const to = Math.min(this.size, from + this.chunkBytes * CHUNKS_PER_SLICE);
    this.reader.read({ from, to, chunkBytes: this.chunkBytes, index: this.index }).then(
      (frames) => {
        if (generation !== this.generation) return;
        this.reading = false;
        if (this.stopped) return;
        this.frames.push(...frames);
        this.readOffset = to;
        this.readAhead();
        this.onReadable();
      },
      () => {
        if (generation !== this.generation) return;
        this.reading = false;
        if (!this.stopped) this.onReadError();
      },
    );
  }

  /**
   * Continue from `offset` (what the receiver has) on a new connection, with its frame size:
   * what was read ahead is dropped and read again from there.
   */
  rewind(offset: number, chunkBytes: number): void {
    this.moved = true;
    this.generation += 1;
    this.reading = false;
    this.frames.length = 0;
    this.chunkBytes = chunkBytes;
    this.readOffset = offset;
    this.sent = offset;
    this.awaitingResume = false;
    this.readAhead();
  }

  /**
   * The receiver said where to continue: from the start of a file not sent yet keeps what was
   * read ahead; anywhere else rewinds.
   */
  continueAt(offset: number, chunkBytes: number): void {
    if (offset === 0 && !this.moved && chunkBytes === this.chunkBytes) {
      this.sent = 0;
      this.awaitingResume = false;
      this.readAhead();
      return;
    }
    this.rewind(offset, chunkBytes);
  }

  stop(): void {
    this.stopped = true;
    this.frames.length = 0;
    this.reader.close();
  }
}
