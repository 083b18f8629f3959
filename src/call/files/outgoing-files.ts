/**
 * The files we send to one person: offer → thumbnail → body → file-done, and continuing from
 * the receiver's bytes on a new connection.
 *
 * Send loop: no timers. It sends while the `files` channel's bufferedAmount is below
 * HIGH_WATER, round-robin between active transfers, and runs again on `bufferedamountlow`,
 * when a read slice is ready, and when an acknowledgement frees room under MAX_IN_FLIGHT
 * (bytes sent but not yet written to the receiver's disk: a slow disk slows the sender).
 */
import { type FileErrorCode, type FileMessage, MAX_THUMB_BYTES } from '../../protocol/peer-files.ts';
import type { ExchangeContext, FileKeeper, KeptSend } from './exchange-context.ts';
import { openFileReader } from './file-reader.ts';
import { FileSender } from './file-sender.ts';
import { resumableFor } from './send-again-key.ts';
import { isFinished, type Transfer } from './transfer.ts';
import { now } from './transfer-book.ts';
import { TransferScheduler } from './transfer-scheduler.ts';

/** The sender waits at most this long for the receiver to show the thumbnail. */
const THUMB_ACK_WAIT_MS = 1500;
/** A file dropped while kept Files are being reclaimed waits at most this long for them. */
const RECLAIM_WAIT_MS = 10_000;

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

type Ack = Extract<FileMessage, { t: 'file-ack' }>;
type Result = Extract<FileMessage, { t: 'file-result' }>;

export class OutgoingFiles {
  private readonly senders = new Map<string, FileSender>();
  private readonly scheduler = new TransferScheduler<FileSender>();
  /** Senders waiting for the receiver's "thumbnail shown" (a file-ack of 0 bytes). */
  private readonly thumbWaiters = new Map<string, () => void>();
  /**
   * Our transfers' body-frame indices count up from a random start: a later document of ours
   * (an overlay re-mounted without an offscreen document) may talk to the receiver on the same
   * link, which still knows the earlier document's indices and refuses an offer reusing one.
   */
  private nextIndex = crypto.getRandomValues(new Uint32Array(1))[0]! & 0x7fffffff;
  /** Indices of transfers taken over from an earlier document (never given to a new one). */
  private readonly reclaimedIndexes = new Set<number>();
  private pumping = false;
  /**
   * While the Files an earlier document kept are being taken over (with their indices): a
   * file dropped meanwhile waits for it, or it could get an index the receiver already knows
   * (and refuses).
   */
  private reclaiming: Promise<void> | null = null;

  constructor(private readonly ctx: ExchangeContext) {
    if (ctx.options.keeper)
      this.reclaiming = this.reclaim(ctx.options.keeper).finally(() => {
        this.reclaiming = null;
      });
  }

  /**
   * Continue the files an earlier document of ours was sending to this person (this overlay
   * was re-mounted or moved to the call window; the keeper held their Files): offered again
   * with `resume`, the receiver answers where to continue, and the whole file is still hashed.
   */
  private async reclaim(keeper: FileKeeper): Promise<void> {
    const { ctx } = this;
    const kept = await keeper.reclaim(ctx.link.peerId).catch((): KeptSend[] => []);
    for (const { id, index, file } of kept) {
      if (ctx.closed || ctx.book.has(id)) continue;
      const transfer = ctx.book.create(id, 'out', file.name, file.size, file.type);
      this.reclaimedIndexes.add(index);
      const sender = this.newSender(transfer, index, file);
      sender.awaitingResume = true;
      sender.bodyOpen = true;
      // Any offset up to the end may be where the receiver got to.
      sender.sent = file.size;
      transfer.state = 'transferring';
      ctx.book.show(transfer);
      await this.makeResumable(sender, file);
      sender.offered = true;
      if (ctx.link.state === 'open' && !sender.stopped) ctx.send({ ...sender.offer!, resume: true });
    }
    if (kept.length > 0 && ctx.link.state !== 'open') ctx.book.pauseAll();
  }

  get(id: string): FileSender | undefined {
    return this.senders.get(id);
  }

  private get chunkBytes(): number {
    return Math.max(1024, this.ctx.link.maxMessageSize - 13);
  }

  /** Offer `file` to the peer: offer → thumbnail → body → done. */
  send(file: File): Transfer {
    const { book } = this.ctx;
    const transfer = book.create(randomId(), 'out', file.name, file.size, file.type);
    book.show(transfer);
    this.start(transfer, file).catch(() => {
      if (isFinished(transfer)) return;
      const sender = this.senders.get(transfer.id);
      if (sender) this.stop(sender);
      this.ctx.send({ t: 'file-cancel', id: transfer.id, by: 'sender' });
      book.finish(transfer, 'failed', 'This browser could not prepare the file for sending.');
    });
    return transfer;
  }

  /** Reads `file` for `transfer`, whose body frames carry `index`. */
  private newSender(transfer: Transfer, index: number, file: File): FileSender {
    const { ctx } = this;
    const sender = new FileSender(
      transfer,
      index,
      (ctx.options.openReader ?? openFileReader)(file),
      this.chunkBytes,
      () => this.pump(),
      () =>
        this.fail(sender, 'read-failed', 'The file could not be read any more (was it moved or changed?).'),
    );
    this.senders.set(transfer.id, sender);
    sender.offer = {
      t: 'file-offer',
      id: transfer.id,
      index,
      name: file.name.slice(0, 1024),
      size: file.size,
      mime: file.type.slice(0, 255),
      lastModified: Number.isFinite(file.lastModified) ? file.lastModified : 0,
    };
    return sender;
  }

  /**
   * With our send-again keys, the offer carries what lets the receiver continue a partial
   * copy it kept from an earlier document of ours (send-again-key.ts). True if it does.
   */
  private async makeResumable(sender: FileSender, file: File): Promise<boolean> {
    const keys = this.ctx.options.sendAgain;
    if (!keys || file.size === 0 || !sender.offer) return false;
    const resumable = await resumableFor(keys, file, this.ctx.link.peerId).catch(() => null);
    if (!resumable || !sender.offer) return false;
    sender.offer = { ...sender.offer, resumable };
    return true;
  }

  /** Whether the receiver may have kept a partial copy of this transfer for us to send again. */
  resumable(id: string): boolean {
    return this.senders.get(id)?.offer?.resumable !== undefined;
  }

  private async start(transfer: Transfer, file: File): Promise<void> {
    const { ctx } = this;
    if (this.reclaiming) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.reclaiming.catch(() => {}),
        new Promise((resolve) => {
          timer = setTimeout(resolve, RECLAIM_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (isFinished(transfer) || ctx.closed) return;
    }
    let index = this.nextIndex++;
    while (this.reclaimedIndexes.has(index)) index = this.nextIndex++;
    const sender = this.newSender(transfer, index, file);
    ctx.options.keeper?.keep(ctx.link.peerId, transfer.id, index, file).catch(() => {});
    sender.readAhead(); // the first slice is read while the thumbnail is made
    const resumable = await this.makeResumable(sender, file);
    if (isFinished(transfer)) return;
    // A resumable offer is answered with where to start (0, or the bytes of a copy the
    // receiver kept): any offset up to the end may be the answer, and no body goes before it.
    if (resumable) sender.sent = file.size;
    sender.offered = true;
    // Offered while the link is paused: it goes out (with `resume`) when it is back.
    if (ctx.link.state === 'open') {
      sender.awaitingResume = resumable;
      ctx.send(sender.offer!);
    } else sender.awaitingResume = true;
    const thumbnail = (await ctx.options.thumbnails?.make(file).catch(() => null)) ?? null;
    if (isFinished(transfer)) return;
    if (thumbnail) {
      const bytes = new Uint8Array(await thumbnail.blob.arrayBuffer());
      if (bytes.byteLength <= MAX_THUMB_BYTES) {
        ctx.send({
          t: 'file-thumb',
          id: transfer.id,
          mime: 'image/jpeg',
          width: thumbnail.width,
          height: thumbnail.height,
          data: toBase64(bytes),
        });
        transfer.thumbnail = thumbnail.blob;
        transfer.times.thumbnail = now();
        ctx.book.changed(transfer);
        // Thumbnail first: the body starts once the receiver shows it (or after a short wait).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, THUMB_ACK_WAIT_MS);
          this.thumbWaiters.set(transfer.id, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        this.thumbWaiters.delete(transfer.id);
      }
    }
    if (isFinished(transfer)) return;
    ctx.book.advance(transfer, 'transferring');
    sender.bodyOpen = true;
    this.scheduler.add(sender);
    ctx.book.changed(transfer);
    this.pump();
  }

  /** Hand frames to the `files` channel while it has room (see the top of this file). */
  pump(): void {
    const { ctx } = this;
    if (this.pumping || ctx.closed) return;
    const channel = ctx.link.files;
    if (!channel) return;
    this.pumping = true;
    try {
      while (channel.readyState === 'open' && channel.bufferedAmount < ctx.settings.highWater) {
        const sender = this.scheduler.next((s) => s.canSend(ctx.settings.maxInFlight));
        if (!sender) break;
        channel.send(sender.take());
        sender.transfer.times.firstBody ??= now();
        if (sender.allSent) this.finishSending(sender);
      }
      // Empty files (and any file whose last byte went out) still need their file-done.
      for (const sender of [...this.scheduler.values()]) {
        if (sender.bodyOpen && sender.allSent && !sender.doneSent && !sender.awaitingResume)
          this.finishSending(sender);
      }
    } catch {
      // The channel is closing; its close event interrupts every transfer.
    } finally {
      this.pumping = false;
    }
  }

  private finishSending(sender: FileSender): void {
    sender.doneSent = true;
    this.scheduler.remove(sender);
    sender.sha256().then(
      (sha256) => {
        if (!sender.stopped) this.ctx.send({ t: 'file-done', id: sender.transfer.id, sha256 });
      },
      () =>
        this.fail(sender, 'read-failed', 'The file could not be read any more (was it moved or changed?).'),
    );
  }

  fail(sender: FileSender, code: FileErrorCode, sentence: string): void {
    if (isFinished(sender.transfer)) return;
    this.stop(sender);
    this.ctx.send({ t: 'file-error', id: sender.transfer.id, code, message: sentence });
    this.ctx.book.finish(sender.transfer, 'failed', sentence);
  }

  stop(sender: FileSender): void {
    this.ctx.options.keeper?.release(sender.transfer.id);
    sender.stop();
    this.scheduler.remove(sender);
    this.senders.delete(sender.transfer.id);
  }

  /** The connection was lost: nothing is sent until the receiver says where to continue. */
  pause(): void {
    for (const sender of this.senders.values()) sender.awaitingResume = true;
  }

  /** A new connection: offer each unfinished file again (the receiver answers where to continue). */
  offerAgain(): void {
    for (const sender of this.senders.values()) {
      if (sender.offered && sender.offer && !sender.stopped) this.ctx.send({ ...sender.offer, resume: true });
    }
  }

  /** The receiver has `bytes` of our file: continue from there on this connection. */
  continueFrom(id: string, bytes: number): void {
    const { ctx } = this;
    const sender = this.senders.get(id);
    if (!sender) {
      const transfer = ctx.book.get(id);
      // Stopped here while the link was down (our cancel was lost with it).
      if (transfer?.direction === 'out' && isFinished(transfer) && transfer.state !== 'done')
        ctx.send({ t: 'file-cancel', id, by: 'sender' });
      return;
    }
    if (!sender.awaitingResume || sender.stopped) return;
    // Less than it acknowledged: its page was replaced and it starts over (from 0).
    if (bytes > sender.sent || bytes > sender.size) {
      this.fail(
        sender,
        'bad-offset',
        'The other side asked to continue from a wrong place; the transfer stopped.',
      );
      return;
    }
    sender.acked = Math.min(sender.acked, bytes);
    sender.continueAt(bytes, this.chunkBytes);
    ctx.book.unpause(sender.transfer);
    if (bytes === sender.size && sender.doneSent) {
      // Every byte is there; the file-done may have been lost with the old connection.
      sender.doneSent = false;
      if (sender.bodyOpen) this.finishSending(sender);
    } else if (sender.bodyOpen) {
      sender.doneSent = false;
      this.scheduler.remove(sender);
      this.scheduler.add(sender);
    }
    this.pump();
  }

  onAck(message: Ack): void {
    const sender = this.senders.get(message.id);
    if (message.bytes === 0) this.thumbWaiters.get(message.id)?.();
    if (!sender || message.bytes > sender.sent || message.bytes < sender.acked) return;
    sender.acked = message.bytes;
    sender.transfer.bytes = message.bytes;
    if (sender.acked === sender.size) this.ctx.book.advance(sender.transfer, 'verifying');
    this.ctx.book.changed(sender.transfer);
    this.pump();
  }

  onResult(message: Result): void {
    const sender = this.senders.get(message.id);
    if (!sender?.doneSent) return;
    this.senders.delete(message.id);
    this.ctx.options.keeper?.release(message.id);
    sender.stop();
    sender.transfer.sha256 = message.sha256;
    if (message.ok) {
      sender.transfer.bytes = sender.size;
      this.ctx.book.finish(sender.transfer, 'done', null);
    } else {
      this.ctx.book.finish(
        sender.transfer,
        'corrupted',
        'The file arrived damaged on the other side and was not saved.',
      );
    }
  }

  /** The exchange closes: every sender stops. */
  stopAll(): void {
    for (const resolve of this.thumbWaiters.values()) resolve();
    for (const sender of this.senders.values()) {
      this.ctx.options.keeper?.release(sender.transfer.id);
      sender.stop();
    }
    this.senders.clear();
  }
}
