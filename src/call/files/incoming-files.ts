/**
 * The files one person sends us: offer → storage → body frames → verified file, their
 * thumbnails, and what we answer when an offer comes again on a new connection. A file whose
 * sender's document went away waits on the partial shelf (partial-shelf.ts) for the same
 * person to send it again; an offer that matches one continues it from the bytes we have.
 */
import {
  type FileErrorCode,
  type FileMessage,
  type FileOffer,
  MAX_THUMB_BYTES,
} from '../../protocol/peer-files.ts';
import { BlockHasher } from './block-hash.ts';
import { type ExchangeContext, NOT_UNDERSTOOD } from './exchange-context.ts';
import { FileReceiver, type FrameVerdict } from './file-receiver.ts';
import type { FileSink, SinkCallbacks } from './file-sink.ts';
import { formatSize } from './format-size.ts';
import { decodeFrame } from './frame.ts';
import type { PartialShelf, ShelvedPartial } from './partial-shelf.ts';
import { safeFileName } from './safe-name.ts';
import { isFinished, type Transfer } from './transfer.ts';
import { now } from './transfer-book.ts';

/** On the card of a partial file kept for its sender to send again. */
export function sendAgainSentence(peer: string): string {
  return `Paused: ${peer} can send it again to continue.`;
}

/** Storage kept free beyond the file itself. */
const SPACE_MARGIN = 16 * 1024 * 1024;

type Thumb = Extract<FileMessage, { t: 'file-thumb' }>;

async function defaultCheckImage(blob: Blob): Promise<boolean> {
  if (typeof createImageBitmap !== 'function') return false;
  try {
    const bitmap = await createImageBitmap(blob);
    const ok = bitmap.width > 0 && bitmap.height > 0 && bitmap.width <= 4096 && bitmap.height <= 4096;
    bitmap.close();
    return ok;
  } catch {
    return false;
  }
}

function fromBase64(data: string): Uint8Array<ArrayBuffer> | null {
  try {
    const binary = atob(data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

export class IncomingFiles {
  private readonly receivers = new Map<string, FileReceiver>();
  private readonly byIndex = new Map<number, FileReceiver>();
  /** Incoming transfers we stopped (refused, cancelled, failed): their late frames are dropped quietly. */
  private readonly droppedIndexes = new Set<number>();
  private readonly checkImage: (blob: Blob) => Promise<boolean>;

  constructor(private readonly ctx: ExchangeContext) {
    this.checkImage = ctx.options.checkImage ?? defaultCheckImage;
  }

  get(id: string): FileReceiver | undefined {
    return this.receivers.get(id);
  }

  /**
   * A new offer: a card, and storage for its bytes. `again`: offered again on a new
   * connection, and new to this document: an earlier document of ours (this overlay before it
   * was re-mounted or moved to the call window) may have kept part of it, to continue from; the
   * sender is told where (file-resume) once storage is open.
   */
  receive(offer: FileOffer, again = false): void {
    const { book } = this.ctx;
    if (book.has(offer.id) || this.byIndex.has(offer.index) || this.droppedIndexes.has(offer.index)) {
      book.problem(NOT_UNDERSTOOD);
      return;
    }
    const { resumable } = offer;
    const shelved = resumable
      ? this.ctx.options.shelf?.claim({ ...resumable, size: offer.size, name: offer.name })
      : undefined;
    const transfer = book.create(offer.id, 'in', safeFileName(offer.name), offer.size, offer.mime);
    const receiver = new FileReceiver(transfer, offer.index);
    receiver.resumable = resumable ?? null;
    receiver.offeredName = offer.name;
    this.receivers.set(offer.id, receiver);
    this.byIndex.set(offer.index, receiver);
    if (shelved) {
      this.continueShelved(receiver, shelved);
      return;
    }
    book.show(transfer);
    // A resumable offer waits for our answer before its body: nothing kept, from the start.
    // (Offered again, `again`, it is answered once storage says what an earlier document kept.)
    if (resumable && !again) this.ctx.send({ t: 'file-resume', id: offer.id, bytes: 0 });
    void this.openStorage(receiver, again);
  }

  /**
   * The same person sent again a file whose partial copy we kept (their earlier document went
   * away): this transfer takes over its storage and running hash, its card takes the old
   * one's place, and the sender continues from the bytes we have.
   */
  private continueShelved(receiver: FileReceiver, shelved: ShelvedPartial): void {
    const { book } = this.ctx;
    const { transfer } = receiver;
    receiver.takeOver(shelved.take(), this.callbacksFor(receiver));
    transfer.state = 'transferring';
    book.show(transfer, shelved.transfer);
    this.ctx.send({ t: 'file-ack', id: transfer.id, bytes: receiver.written });
    this.ctx.send({ t: 'file-resume', id: transfer.id, bytes: receiver.received });
  }

  private callbacksFor(receiver: FileReceiver): SinkCallbacks {
    return {
      onWritten: (total) => this.onWritten(receiver, total),
      onError: (sentence, reason) => this.fail(receiver, reason, sentence),
    };
  }

  private get shelf(): PartialShelf | undefined {
    return this.ctx.options.shelf;
  }

  /**
   * The link paused: each file that can continue if its sender's document is gone (a
   * resumable offer, storage open, bytes still to come) goes on the shelf, where an offer of
   * the same file from the same person can find it. It stays ours until then.
   */
  shelveAll(): void {
    const { shelf } = this;
    if (!shelf) return;
    for (const receiver of this.receivers.values()) {
      const { transfer, resumable } = receiver;
      if (receiver.shelved || !resumable || !receiver.sink || receiver.finishing || receiver.complete)
        continue;
      if (isFinished(transfer)) continue;
      const partial: ShelvedPartial = {
        match: { ...resumable, size: transfer.size, name: receiver.offeredName },
        transfer,
        take: () => {
          this.forget(receiver);
          this.ctx.book.retire(transfer);
          return receiver;
        },
        drop: (sentence, state = 'interrupted') => {
          if (isFinished(transfer)) return;
          this.forget(receiver);
          this.ctx.send({ t: 'file-cancel', id: transfer.id, by: 'receiver' });
          void receiver.sink?.discard();
          this.ctx.book.finish(transfer, state, sentence);
        },
      };
      receiver.shelved = partial;
      shelf.put(partial);
    }
  }

  /** An offer sent again on a new connection: say how much of it we have. */
  offeredAgain(offer: FileOffer): void {
    const { ctx } = this;
    const receiver = this.receivers.get(offer.id);
    if (receiver) {
      if (receiver.index !== offer.index || receiver.transfer.size !== offer.size) {
        this.fail(receiver, 'unsupported', `${NOT_UNDERSTOOD} The transfer was stopped.`);
        return;
      }
      if (receiver.shelved) this.shelf?.remove(receiver.shelved);
      receiver.shelved = null;
      ctx.book.unpause(receiver.transfer);
      // What was written meanwhile was never acknowledged (the link was down).
      receiver.lastAcked = receiver.written;
      ctx.send({ t: 'file-ack', id: offer.id, bytes: receiver.written });
      ctx.send({ t: 'file-resume', id: offer.id, bytes: receiver.received });
      return;
    }
    const known = ctx.book.get(offer.id);
    if (known) {
      // Finished here while the link was down: its last word did not reach the sender.
      if (known.direction === 'in' && known.state === 'done' && known.sha256)
        ctx.send({ t: 'file-result', id: offer.id, ok: true, sha256: known.sha256 });
      else if (known.direction === 'in' && isFinished(known))
        ctx.send({ t: 'file-cancel', id: offer.id, by: 'receiver' });
      return;
    }
    // New to this document: from what an earlier one kept, else from the start.
    this.receive(offer, true);
  }

  /**
   * Incoming files still paused after a new connection came: their sender could not continue
   * them. One on the shelf waits there for them to send it again; any other is given up.
   */
  giveUpPaused(): void {
    for (const receiver of [...this.receivers.values()]) {
      if (receiver.transfer.state !== 'paused' || this.ctx.link.state !== 'open') continue;
      if (receiver.shelved) this.sayShelved(receiver.transfer);
      else
        this.fail(
          receiver,
          'read-failed',
          `Interrupted: ${this.ctx.link.remoteName()} could not continue this file. Ask them to send it again.`,
        );
    }
  }

  private async openStorage(receiver: FileReceiver, again: boolean): Promise<void> {
    const { transfer } = receiver;
    const { options, book } = this.ctx;
    try {
      const callbacks = receiver.sinkCallbacks(this.callbacksFor(receiver));
      let sink = again ? await this.adopt(receiver, callbacks) : null;
      if (!sink) {
        const free = await options.sinks.freeBytes();
        if (free !== undefined && transfer.size + SPACE_MARGIN > free) {
          const sentence = `Not enough free space to receive this file (${formatSize(transfer.size)} needed, ${formatSize(Math.max(0, free))} free).`;
          this.fail(receiver, 'no-space', sentence);
          return;
        }
        sink = await options.sinks.create(transfer.id, transfer.name, transfer.mime, callbacks);
      }
      const hasher = sink.digest ? null : new BlockHasher();
      if (isFinished(transfer)) {
        await sink.discard();
        return;
      }
      receiver.attach(sink, hasher);
      if (again) this.ctx.send({ t: 'file-resume', id: transfer.id, bytes: receiver.received });
      if (receiver.complete) sink.flush?.();
      if (transfer.state === 'preparing') transfer.state = 'transferring';
      book.changed(transfer);
      void this.maybeFinish(receiver);
    } catch {
      this.fail(receiver, 'write-failed', 'This browser could not open storage for the file.');
    }
  }

  /**
   * The part of this file an earlier document of ours received, if our storage kept it: only
   * when the sink hashes what it holds (the whole file's SHA-256 is still checked) and it is
   * no longer than the offer says.
   */
  private async adopt(receiver: FileReceiver, callbacks: SinkCallbacks): Promise<FileSink | null> {
    const { transfer } = receiver;
    const adopted = await this.ctx.options.sinks
      .adopt?.(transfer.id, transfer.name, transfer.mime, callbacks)
      .catch(() => null);
    if (!adopted) return null;
    if (!adopted.sink.digest || adopted.written > transfer.size) {
      await adopted.sink.discard();
      return null;
    }
    receiver.startAt(adopted.written);
    return adopted.sink;
  }

  private onWritten(receiver: FileReceiver, total: number): void {
    if (isFinished(receiver.transfer)) return;
    receiver.written = total;
    receiver.transfer.bytes = total;
    if (total - receiver.lastAcked >= this.ctx.settings.ackStep || total === receiver.transfer.size) {
      receiver.lastAcked = total;
      this.ctx.send({ t: 'file-ack', id: receiver.transfer.id, bytes: total });
    }
    this.ctx.book.changed(receiver.transfer);
    void this.maybeFinish(receiver);
  }

  /** A binary frame from the `files` channel. */
  onFrame(data: unknown): void {
    const { book } = this.ctx;
    const decoded = decodeFrame(data);
    if (!decoded.ok) {
      book.problem(NOT_UNDERSTOOD);
      return;
    }
    const { index, offset, body } = decoded.frame;
    const receiver = this.byIndex.get(index);
    if (!receiver) {
      if (!this.droppedIndexes.has(index)) book.problem(NOT_UNDERSTOOD);
      return;
    }
    const verdict = receiver.accept(offset, body);
    if (verdict !== 'ok') {
      this.refuseFrame(receiver, verdict);
      return;
    }
    receiver.transfer.times.firstBody ??= now();
    if (receiver.complete) {
      receiver.sink?.flush?.();
      void this.maybeFinish(receiver);
    }
  }

  private refuseFrame(receiver: FileReceiver, verdict: Exclude<FrameVerdict, 'ok'>): void {
    const sentences = {
      'too-long': 'The other side sent more data than it announced; the file was refused.',
      'bad-offset': 'The other side sent parts of the file out of place; the file was refused.',
      flooding: 'The other side sent data faster than it could be saved; the file was refused.',
    } as const;
    this.fail(receiver, verdict === 'flooding' ? 'bad-frame' : verdict, sentences[verdict]);
  }

  /** The sender's file-done: the hash to check once every byte is written. */
  onDone(id: string, sha256: string): void {
    const receiver = this.receivers.get(id);
    if (!receiver || receiver.announcedSha !== null) return;
    receiver.announcedSha = sha256;
    void this.maybeFinish(receiver);
  }

  private async maybeFinish(receiver: FileReceiver): Promise<void> {
    const { transfer } = receiver;
    const { book } = this.ctx;
    if (receiver.finishing || isFinished(transfer) || !receiver.sink) return;
    if (!receiver.complete || receiver.announcedSha === null || receiver.written !== transfer.size) return;
    receiver.finishing = true;
    transfer.state = 'verifying';
    book.changed(transfer);
    let sha256: string;
    try {
      sha256 = await receiver.digest();
    } catch {
      this.fail(receiver, 'write-failed', 'The browser could not finish saving the file.');
      return;
    }
    if (isFinished(transfer)) return;
    const ok = sha256 === receiver.announcedSha;
    this.forget(receiver);
    this.ctx.send({ t: 'file-result', id: transfer.id, ok, sha256 });
    transfer.sha256 = sha256;
    if (!ok) {
      await receiver.sink.discard();
      book.finish(
        transfer,
        'corrupted',
        'Corrupted — not saved. The file that arrived differs from the one sent.',
      );
      return;
    }
    try {
      transfer.file = await receiver.sink.close();
      transfer.bytes = transfer.size;
      book.finish(transfer, 'done', null);
    } catch {
      await receiver.sink.discard();
      book.finish(transfer, 'failed', 'The browser could not finish saving the file.');
    }
  }

  fail(receiver: FileReceiver, code: FileErrorCode, sentence: string): void {
    if (isFinished(receiver.transfer)) return;
    this.forget(receiver);
    this.ctx.send({ t: 'file-error', id: receiver.transfer.id, code, message: sentence });
    this.ctx.book.finish(receiver.transfer, 'failed', sentence);
    void receiver.sink?.discard();
  }

  /** Stop receiving (cancelled, failed on the sender's side): the partial file is deleted. */
  drop(receiver: FileReceiver): void {
    this.forget(receiver);
    void receiver.sink?.discard();
  }

  private forget(receiver: FileReceiver): void {
    if (receiver.shelved) this.shelf?.remove(receiver.shelved);
    receiver.shelved = null;
    receiver.drop();
    this.receivers.delete(receiver.transfer.id);
    this.byIndex.delete(receiver.index);
    this.droppedIndexes.add(receiver.index);
  }

  onThumb(thumb: Thumb): void {
    const receiver = this.receivers.get(thumb.id);
    if (receiver) void this.acceptThumbnail(receiver, thumb);
  }

  private async acceptThumbnail(receiver: FileReceiver, thumb: Thumb): Promise<void> {
    const { transfer } = receiver;
    const { book } = this.ctx;
    if (transfer.thumbnail || transfer.thumbnailProblem) return;
    const bytes = fromBase64(thumb.data);
    if (!bytes || bytes.byteLength > MAX_THUMB_BYTES) {
      this.refuseThumbnail(transfer, 'The preview was refused: it was too large.');
      return;
    }
    const blob = new Blob([bytes], { type: thumb.mime });
    if (!(await this.checkImage(blob))) {
      this.refuseThumbnail(transfer, 'The preview was refused: it was not an image.');
      return;
    }
    if (isFinished(transfer) && transfer.state !== 'done') return;
    transfer.thumbnail = blob;
    book.changed(transfer);
    await book.events.thumbnailShown?.(transfer).catch(() => {});
    transfer.times.thumbnail = now();
    this.ackThumbnail(transfer);
  }

  refuseThumbnail(transfer: Transfer, sentence: string): void {
    transfer.thumbnailProblem = sentence;
    this.ctx.book.changed(transfer);
    this.ackThumbnail(transfer);
  }

  /** "Thumbnail handled": an acknowledgement of 0 bytes lets the sender start the body. */
  private ackThumbnail(transfer: Transfer): void {
    if (!isFinished(transfer) && transfer.bytes === 0)
      this.ctx.send({ t: 'file-ack', id: transfer.id, bytes: 0 });
  }

  /**
   * The exchange closes (the person is gone): every partial file is deleted but those on the
   * shelf, which wait there for the same person to send them again. Returns their transfers.
   */
  dropAll(): Set<Transfer> {
    const kept = new Set<Transfer>();
    for (const receiver of this.receivers.values()) {
      if (receiver.shelved && !isFinished(receiver.transfer)) {
        kept.add(receiver.transfer);
        this.sayShelved(receiver.transfer);
        continue;
      }
      receiver.drop();
      void receiver.sink?.discard();
    }
    for (const receiver of [...this.receivers.values()])
      if (!kept.has(receiver.transfer)) this.receivers.delete(receiver.transfer.id);
    this.byIndex.clear();
    return kept;
  }

  private sayShelved(transfer: Transfer): void {
    const sentence = sendAgainSentence(transfer.peerName);
    if (transfer.message === sentence) return;
    transfer.message = sentence;
    this.ctx.book.changed(transfer);
  }
}
