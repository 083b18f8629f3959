/**
 * File transfer with one person over their PeerLink: the protocol in
 * src/protocol/peer-files.ts.
 *
 * The link outlives a connection: when it pauses (the connection was lost), unfinished
 * transfers show "Paused: reconnecting…" and keep what they have; when a new connection
 * attaches, the sender offers each of them again and continues from the bytes the receiver
 * has (the whole file's SHA-256 is still checked at the end). When the link closes for good
 * (the person is gone), they are interrupted and partial files deleted.
 *
 * Send loop: no timers. It sends while the `files` channel's bufferedAmount is below
 * HIGH_WATER, round-robin between active transfers, and runs again on `bufferedamountlow`,
 * when a read slice is ready, and when an acknowledgement frees room under MAX_IN_FLIGHT
 * (bytes sent but not yet written to the receiver's disk: a slow disk slows the sender).
 */

import {
  FILE_TYPES,
  type FileErrorCode,
  type FileMessage,
  type FileOffer,
  type FileThumb,
  MAX_THUMB_BYTES,
  parseFileMessage,
} from '../../protocol/peer-files.ts';
import type { ControlMessage, PeerLink, PeerLinkState } from '../peer-link.ts';
import { BlockHasher } from './block-hash.ts';
import { type FileReader, openFileReader } from './file-reader.ts';
import { FileReceiver, type FrameVerdict } from './file-receiver.ts';
import { FileSender } from './file-sender.ts';
import type { SinkFactory } from './file-sink.ts';
import { formatSize } from './format-size.ts';
import { decodeFrame } from './frame.ts';
import { safeFileName } from './safe-name.ts';
import type { Thumbnail } from './thumbnail-fit.ts';
import { isFinished, type Transfer, type TransferState } from './transfer.ts';
import { TransferScheduler } from './transfer-scheduler.ts';

export interface ExchangeEvents {
  /** A new transfer (ours or the peer's): show a card. */
  onTransfer(transfer: Transfer): void;
  /** State, progress or thumbnail changed. Progress changes come often: render throttled. */
  onUpdate(transfer: Transfer): void;
  /** Something from the peer that cannot be tied to a transfer. */
  onProblem(sentence: string): void;
  /** Resolves once a received thumbnail is on screen (the sender waits for this before the body). */
  thumbnailShown?(transfer: Transfer): Promise<void>;
}

/** The sender waits at most this long for the receiver to show the thumbnail. */
const THUMB_ACK_WAIT_MS = 1500;

export interface ExchangeOptions {
  sinks: SinkFactory;
  thumbnails?: { make(file: File): Promise<Thumbnail | null> };
  /** Stop handing frames to the channel above this (Chrome fails at 16 MiB). */
  highWater?: number;
  /** Resume when the channel drains below this. */
  lowWater?: number;
  /** Bytes sent but not yet acknowledged as written. */
  maxInFlight?: number;
  /** Receiver acknowledges after this many newly written bytes. */
  ackStep?: number;
  /** Reads, hashes and frames a file we send (default: in a worker, src/call/files/file-reader.ts). */
  openReader?: (file: Blob) => FileReader;
  /** Thumbnails must decode as images before we show them (createImageBitmap in browsers). */
  checkImage?: (blob: Blob) => Promise<boolean>;
}

export const NOT_UNDERSTOOD = 'The other side sent something Parley does not understand.';
export const PAUSED = 'Paused: reconnecting…';

/** How long a paused incoming file waits, once a new connection is up, for its sender to continue it. */
const RESUME_WAIT_MS = 15_000;

/** Messages that end a transfer: kept while the link is paused and sent once it is back. */
const TERMINAL: ReadonlySet<string> = new Set(['file-cancel', 'file-error', 'file-result']);

/**
 * The files channel shares the SCTP association with the control channel. Chromium's SCTP
 * (dcsctp) takes whole messages from its streams in turn, so a chat message waits for at most
 * the one body frame being sent, not for all that is queued on `files`: the queue can be
 * deep enough that the pipe never runs dry while this thread is busy or descheduled (on a
 * loaded machine it can be for a good part of a second; 2 MiB is 0.2 s at 10 MB/s).
 * What is in flight beyond the queue is held by the receiver until written (its data channel's
 * backlog, the writer's queue), hence the smaller cap on unacknowledged bytes.
 */
const DEFAULTS = {
  highWater: 8 * 1024 * 1024,
  lowWater: 2 * 1024 * 1024,
  maxInFlight: 16 * 1024 * 1024,
  ackStep: 1024 * 1024,
};
/** Storage kept free beyond the file itself. */
const SPACE_MARGIN = 16 * 1024 * 1024;

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
}

function now(): number {
  return performance.now();
}

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

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
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

export class FileExchange {
  private readonly senders = new Map<string, FileSender>();
  private readonly receivers = new Map<string, FileReceiver>();
  private readonly receiversByIndex = new Map<number, FileReceiver>();
  /** Incoming transfers we stopped (refused, cancelled, failed): their late frames are dropped quietly. */
  private readonly droppedIndexes = new Set<number>();
  private readonly scheduler = new TransferScheduler<FileSender>();
  private readonly all = new Map<string, Transfer>();
  private readonly settings: typeof DEFAULTS;
  private readonly checkImage: (blob: Blob) => Promise<boolean>;
  private nextIndex = 0;
  /** Senders waiting for the receiver's "thumbnail shown" (a file-ack of 0 bytes). */
  private readonly thumbWaiters = new Map<string, () => void>();
  private pumping = false;
  private closed = false;
  /** Terminal messages that could not be sent while the link was paused. */
  private unsent: FileMessage[] = [];
  /** What each paused transfer was doing (restored when it continues). */
  private readonly pausedFrom = new Map<Transfer, TransferState>();
  private unbindChannel: (() => void) | null = null;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly detach: () => void;

  constructor(
    private readonly link: PeerLink,
    private readonly options: ExchangeOptions,
    private readonly events: ExchangeEvents,
  ) {
    this.settings = { ...DEFAULTS, ...stripUndefined(options) };
    this.checkImage = options.checkImage ?? defaultCheckImage;
    const offRoute = link.route(FILE_TYPES, (message) => this.onControl(message));
    const offState = link.onState((state) => this.onLinkState(state));
    this.detach = () => {
      offRoute();
      offState();
      this.unbindChannel?.();
      this.unbindChannel = null;
    };
    if (link.state === 'open') this.bindChannel();
  }

  /** Listen to the current connection's `files` channel. */
  private bindChannel(): void {
    this.unbindChannel?.();
    const files = this.link.files;
    if (!files) return;
    const onFrame = (event: MessageEvent) => this.onFrame(event.data);
    const onLow = () => this.pump();
    files.binaryType = 'arraybuffer';
    files.bufferedAmountLowThreshold = this.settings.lowWater;
    files.addEventListener('message', onFrame);
    files.addEventListener('bufferedamountlow', onLow);
    this.unbindChannel = () => {
      files.removeEventListener('message', onFrame);
      files.removeEventListener('bufferedamountlow', onLow);
    };
  }

  private onLinkState(state: PeerLinkState): void {
    if (this.closed) return;
    if (state === 'paused') {
      this.unbindChannel?.();
      this.unbindChannel = null;
      this.pause();
    } else if (state === 'open') {
      this.bindChannel();
      this.resume();
    } else {
      // The person is gone. The panel closes us with the reason in the same task (who
      // left, hung up); this is the fallback.
      queueMicrotask(() => this.close('lost'));
    }
  }

  /** The connection was lost: every unfinished transfer waits, keeping what it has. */
  private pause(): void {
    for (const sender of this.senders.values()) sender.awaitingResume = true;
    for (const transfer of this.all.values()) {
      if (isFinished(transfer) || transfer.state === 'paused') continue;
      this.pausedFrom.set(transfer, transfer.state);
      transfer.state = 'paused';
      transfer.message = PAUSED;
      this.events.onUpdate(transfer);
    }
  }

  /**
   * A new connection: send what could not be sent, offer our unfinished files again (the
   * receiver answers where to continue), and let incoming ones continue.
   */
  private resume(): void {
    for (const message of this.unsent.splice(0)) this.sendControl(message);
    for (const sender of this.senders.values()) {
      if (sender.offer && !sender.stopped) this.sendControl({ ...sender.offer, resume: true });
    }
    // Incoming files continue when their sender offers them again; one whose sender lost it
    // (their page was replaced) does not come back.
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      for (const receiver of [...this.receivers.values()]) {
        if (receiver.transfer.state === 'paused' && this.link.state === 'open')
          this.failIncoming(
            receiver,
            'read-failed',
            `Interrupted: ${this.link.remoteName()} could not continue this file. Ask them to send it again.`,
          );
      }
    }, RESUME_WAIT_MS);
  }

  private unpause(transfer: Transfer): void {
    const before = this.pausedFrom.get(transfer);
    this.pausedFrom.delete(transfer);
    if (before === undefined || transfer.state !== 'paused') return;
    transfer.state = before;
    transfer.message = null;
    this.events.onUpdate(transfer);
  }

  get peerId(): string {
    return this.link.peerId;
  }

  get peerName(): string {
    return this.link.remoteName();
  }

  transfers(): Transfer[] {
    return [...this.all.values()];
  }

  // ---------- sending ----------

  /** Offer `file` to the peer: offer → thumbnail → body → done. */
  send(file: File): Transfer {
    const transfer = this.newTransfer(randomId(), 'out', file.name, file.size, file.type);
    this.events.onTransfer(transfer);
    this.startSending(transfer, file).catch(() => {
      if (isFinished(transfer)) return;
      const sender = this.senders.get(transfer.id);
      if (sender) this.stopSender(sender);
      this.sendControl({ t: 'file-cancel', id: transfer.id, by: 'sender' });
      this.finish(transfer, 'failed', 'This browser could not prepare the file for sending.');
    });
    return transfer;
  }

  private async startSending(transfer: Transfer, file: File): Promise<void> {
    const index = this.nextIndex++;
    const chunkBytes = Math.max(1024, this.link.maxMessageSize - 13);
    const sender = new FileSender(
      transfer,
      index,
      (this.options.openReader ?? openFileReader)(file),
      chunkBytes,
      () => this.pump(),
      () =>
        this.failOutgoing(
          sender,
          'read-failed',
          'The file could not be read any more (was it moved or changed?).',
        ),
    );
    this.senders.set(transfer.id, sender);
    sender.readAhead(); // the first slice is read while the thumbnail is made
    sender.offer = {
      t: 'file-offer',
      id: transfer.id,
      index,
      name: file.name.slice(0, 1024),
      size: file.size,
      mime: file.type.slice(0, 255),
      lastModified: Number.isFinite(file.lastModified) ? file.lastModified : 0,
    };
    // Offered while the link is paused: it goes out (with `resume`) when it is back.
    if (this.link.state === 'open') this.sendControl(sender.offer);
    else sender.awaitingResume = true;
    const thumbnail = (await this.options.thumbnails?.make(file).catch(() => null)) ?? null;
    if (isFinished(transfer)) return;
    if (thumbnail) {
      const bytes = new Uint8Array(await thumbnail.blob.arrayBuffer());
      if (bytes.byteLength <= MAX_THUMB_BYTES) {
        this.sendControl({
          t: 'file-thumb',
          id: transfer.id,
          mime: 'image/jpeg',
          width: thumbnail.width,
          height: thumbnail.height,
          data: toBase64(bytes),
        });
        transfer.thumbnail = thumbnail.blob;
        transfer.times.thumbnail = now();
        this.events.onUpdate(transfer);
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
    if (transfer.state === 'paused') this.pausedFrom.set(transfer, 'transferring');
    else transfer.state = 'transferring';
    sender.bodyOpen = true;
    this.scheduler.add(sender);
    this.events.onUpdate(transfer);
    this.pump();
  }

  private pump(): void {
    if (this.pumping || this.closed) return;
    const channel = this.link.files;
    if (!channel) return;
    this.pumping = true;
    try {
      while (channel.readyState === 'open' && channel.bufferedAmount < this.settings.highWater) {
        const sender = this.scheduler.next((s) => s.canSend(this.settings.maxInFlight));
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
        if (!sender.stopped) this.sendControl({ t: 'file-done', id: sender.transfer.id, sha256 });
      },
      () =>
        this.failOutgoing(
          sender,
          'read-failed',
          'The file could not be read any more (was it moved or changed?).',
        ),
    );
  }

  private failOutgoing(sender: FileSender, code: FileErrorCode, sentence: string): void {
    if (isFinished(sender.transfer)) return;
    this.stopSender(sender);
    this.sendControl({ t: 'file-error', id: sender.transfer.id, code, message: sentence });
    this.finish(sender.transfer, 'failed', sentence);
  }

  private stopSender(sender: FileSender): void {
    sender.stop();
    this.scheduler.remove(sender);
    this.senders.delete(sender.transfer.id);
  }

  // ---------- receiving ----------

  /** An offer sent again on a new connection: say how much of it we have. */
  private offeredAgain(offer: FileOffer): void {
    const receiver = this.receivers.get(offer.id);
    if (receiver) {
      if (receiver.index !== offer.index || receiver.transfer.size !== offer.size) {
        this.failIncoming(receiver, 'unsupported', `${NOT_UNDERSTOOD} The transfer was stopped.`);
        return;
      }
      this.unpause(receiver.transfer);
      // What was written meanwhile was never acknowledged (the link was down).
      receiver.lastAcked = receiver.written;
      this.sendControl({ t: 'file-ack', id: offer.id, bytes: receiver.written });
      this.sendControl({ t: 'file-resume', id: offer.id, bytes: receiver.received });
      return;
    }
    const known = this.all.get(offer.id);
    if (known) {
      // Finished here while the link was down: its last word did not reach the sender.
      if (known.direction === 'in' && known.state === 'done' && known.sha256)
        this.sendControl({ t: 'file-result', id: offer.id, ok: true, sha256: known.sha256 });
      else if (known.direction === 'in' && isFinished(known))
        this.sendControl({ t: 'file-cancel', id: offer.id, by: 'receiver' });
      return;
    }
    // Its first offer never arrived: a new transfer, from the start.
    this.receive(offer);
    if (this.receivers.has(offer.id)) this.sendControl({ t: 'file-resume', id: offer.id, bytes: 0 });
  }

  /** The receiver has `bytes` of our file: continue from there on this connection. */
  private continueSending(id: string, bytes: number): void {
    const sender = this.senders.get(id);
    if (!sender) {
      const transfer = this.all.get(id);
      // Stopped here while the link was down (our cancel was lost with it).
      if (transfer?.direction === 'out' && isFinished(transfer) && transfer.state !== 'done')
        this.sendControl({ t: 'file-cancel', id, by: 'sender' });
      return;
    }
    if (!sender.awaitingResume || sender.stopped) return;
    // Less than it acknowledged: its page was replaced and it starts over (from 0).
    if (bytes > sender.sent || bytes > sender.size) {
      this.failOutgoing(
        sender,
        'bad-offset',
        'The other side asked to continue from a wrong place; the transfer stopped.',
      );
      return;
    }
    sender.acked = Math.min(sender.acked, bytes);
    sender.rewind(bytes, Math.max(1024, this.link.maxMessageSize - 13));
    this.unpause(sender.transfer);
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

  private receive(offer: FileOffer): void {
    if (
      this.all.has(offer.id) ||
      this.receiversByIndex.has(offer.index) ||
      this.droppedIndexes.has(offer.index)
    ) {
      this.events.onProblem(NOT_UNDERSTOOD);
      return;
    }
    const transfer = this.newTransfer(offer.id, 'in', safeFileName(offer.name), offer.size, offer.mime);
    const receiver = new FileReceiver(transfer, offer.index);
    this.receivers.set(offer.id, receiver);
    this.receiversByIndex.set(offer.index, receiver);
    this.events.onTransfer(transfer);
    void this.openStorage(receiver);
  }

  private async openStorage(receiver: FileReceiver): Promise<void> {
    const { transfer } = receiver;
    try {
      const free = await this.options.sinks.freeBytes();
      if (free !== undefined && transfer.size + SPACE_MARGIN > free) {
        const sentence = `Not enough free space to receive this file (${formatSize(transfer.size)} needed, ${formatSize(Math.max(0, free))} free).`;
        this.failIncoming(receiver, 'no-space', sentence);
        return;
      }
      const sink = await this.options.sinks.create(transfer.id, transfer.name, transfer.mime, {
        onWritten: (total) => this.onWritten(receiver, total),
        onError: (sentence, reason) => this.failIncoming(receiver, reason, sentence),
      });
      const hasher = sink.digest ? null : new BlockHasher();
      if (isFinished(transfer)) {
        await sink.discard();
        return;
      }
      receiver.attach(sink, hasher);
      if (receiver.complete) sink.flush?.();
      if (transfer.state === 'preparing') transfer.state = 'transferring';
      this.events.onUpdate(transfer);
      void this.maybeFinishReceiving(receiver);
    } catch {
      this.failIncoming(receiver, 'write-failed', 'This browser could not open storage for the file.');
    }
  }

  private onWritten(receiver: FileReceiver, total: number): void {
    if (isFinished(receiver.transfer)) return;
    receiver.written = total;
    receiver.transfer.bytes = total;
    if (total - receiver.lastAcked >= this.settings.ackStep || total === receiver.transfer.size) {
      receiver.lastAcked = total;
      this.sendControl({ t: 'file-ack', id: receiver.transfer.id, bytes: total });
    }
    this.events.onUpdate(receiver.transfer);
    void this.maybeFinishReceiving(receiver);
  }

  private onFrame(data: unknown): void {
    if (this.closed) return;
    const decoded = decodeFrame(data);
    if (!decoded.ok) {
      this.events.onProblem(NOT_UNDERSTOOD);
      return;
    }
    const { index, offset, body } = decoded.frame;
    const receiver = this.receiversByIndex.get(index);
    if (!receiver) {
      if (!this.droppedIndexes.has(index)) this.events.onProblem(NOT_UNDERSTOOD);
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
      void this.maybeFinishReceiving(receiver);
    }
  }

  private refuseFrame(receiver: FileReceiver, verdict: Exclude<FrameVerdict, 'ok'>): void {
    const sentences = {
      'too-long': 'The other side sent more data than it announced; the file was refused.',
      'bad-offset': 'The other side sent parts of the file out of place; the file was refused.',
      flooding: 'The other side sent data faster than it could be saved; the file was refused.',
    } as const;
    this.failIncoming(receiver, verdict === 'flooding' ? 'bad-frame' : verdict, sentences[verdict]);
  }

  private async maybeFinishReceiving(receiver: FileReceiver): Promise<void> {
    const { transfer } = receiver;
    if (receiver.finishing || isFinished(transfer) || !receiver.sink) return;
    if (!receiver.complete || receiver.announcedSha === null || receiver.written !== transfer.size) return;
    receiver.finishing = true;
    transfer.state = 'verifying';
    this.events.onUpdate(transfer);
    let sha256: string;
    try {
      sha256 = await receiver.digest();
    } catch {
      this.failIncoming(receiver, 'write-failed', 'The browser could not finish saving the file.');
      return;
    }
    if (isFinished(transfer)) return;
    const ok = sha256 === receiver.announcedSha;
    this.forgetReceiver(receiver);
    this.sendControl({ t: 'file-result', id: transfer.id, ok, sha256 });
    transfer.sha256 = sha256;
    if (!ok) {
      await receiver.sink.discard();
      this.finish(
        transfer,
        'corrupted',
        'Corrupted — not saved. The file that arrived differs from the one sent.',
      );
      return;
    }
    try {
      transfer.file = await receiver.sink.close();
      transfer.bytes = transfer.size;
      this.finish(transfer, 'done', null);
    } catch {
      await receiver.sink.discard();
      this.finish(transfer, 'failed', 'The browser could not finish saving the file.');
    }
  }

  private failIncoming(receiver: FileReceiver, code: FileErrorCode, sentence: string): void {
    if (isFinished(receiver.transfer)) return;
    this.forgetReceiver(receiver);
    this.sendControl({ t: 'file-error', id: receiver.transfer.id, code, message: sentence });
    this.finish(receiver.transfer, 'failed', sentence);
    void receiver.sink?.discard();
  }

  private forgetReceiver(receiver: FileReceiver): void {
    receiver.drop();
    this.receivers.delete(receiver.transfer.id);
    this.receiversByIndex.delete(receiver.index);
    this.droppedIndexes.add(receiver.index);
  }

  private async acceptThumbnail(receiver: FileReceiver, thumb: FileThumb): Promise<void> {
    const { transfer } = receiver;
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
    this.events.onUpdate(transfer);
    await this.events.thumbnailShown?.(transfer).catch(() => {});
    transfer.times.thumbnail = now();
    this.ackThumbnail(transfer);
  }

  private refuseThumbnail(transfer: Transfer, sentence: string): void {
    transfer.thumbnailProblem = sentence;
    this.events.onUpdate(transfer);
    this.ackThumbnail(transfer);
  }

  /** "Thumbnail handled": an acknowledgement of 0 bytes lets the sender start the body. */
  private ackThumbnail(transfer: Transfer): void {
    if (!isFinished(transfer) && transfer.bytes === 0)
      this.sendControl({ t: 'file-ack', id: transfer.id, bytes: 0 });
  }

  // ---------- control messages ----------

  private onControl(raw: ControlMessage): void {
    if (this.closed) return;
    const parsed = parseFileMessage(raw);
    if (parsed.kind === 'not-mine') return;
    if (parsed.kind === 'invalid') {
      this.onInvalid(parsed.id, raw.t);
      return;
    }
    this.handle(parsed.message);
  }

  private onInvalid(id: string | undefined, t: string): void {
    const receiver = id === undefined ? undefined : this.receivers.get(id);
    if (receiver && t === 'file-thumb') {
      this.refuseThumbnail(receiver.transfer, 'The preview was refused: it was too large or not an image.');
      return;
    }
    if (receiver) {
      this.failIncoming(receiver, 'unsupported', `${NOT_UNDERSTOOD} The transfer was stopped.`);
      return;
    }
    this.events.onProblem(NOT_UNDERSTOOD);
  }

  private handle(message: FileMessage): void {
    switch (message.t) {
      case 'file-offer':
        if (message.resume) this.offeredAgain(message);
        else this.receive(message);
        return;
      case 'file-resume':
        this.continueSending(message.id, message.bytes);
        return;
      case 'file-thumb': {
        const receiver = this.receivers.get(message.id);
        if (receiver) void this.acceptThumbnail(receiver, message);
        return;
      }
      case 'file-ack': {
        const sender = this.senders.get(message.id);
        if (message.bytes === 0) this.thumbWaiters.get(message.id)?.();
        if (!sender || message.bytes > sender.sent || message.bytes < sender.acked) return;
        sender.acked = message.bytes;
        sender.transfer.bytes = message.bytes;
        if (sender.acked === sender.size) {
          if (sender.transfer.state === 'paused') this.pausedFrom.set(sender.transfer, 'verifying');
          else sender.transfer.state = 'verifying';
        }
        this.events.onUpdate(sender.transfer);
        this.pump();
        return;
      }
      case 'file-done': {
        const receiver = this.receivers.get(message.id);
        if (!receiver || receiver.announcedSha !== null) return;
        receiver.announcedSha = message.sha256;
        void this.maybeFinishReceiving(receiver);
        return;
      }
      case 'file-result': {
        const sender = this.senders.get(message.id);
        if (!sender?.doneSent) return;
        this.senders.delete(message.id);
        sender.stop();
        sender.transfer.sha256 = message.sha256;
        if (message.ok) {
          sender.transfer.bytes = sender.size;
          this.finish(sender.transfer, 'done', null);
        } else {
          this.finish(
            sender.transfer,
            'corrupted',
            'The file arrived damaged on the other side and was not saved.',
          );
        }
        return;
      }
      case 'file-cancel':
        this.cancelled(message.id);
        return;
      case 'file-error':
        this.peerFailed(message.id, message.code);
        return;
    }
  }

  private cancelled(id: string): void {
    const sender = this.senders.get(id);
    const receiver = this.receivers.get(id);
    const transfer = sender?.transfer ?? receiver?.transfer;
    if (!transfer || isFinished(transfer)) return;
    transfer.cancelledBy = 'peer';
    if (sender) this.stopSender(sender);
    if (receiver) {
      this.forgetReceiver(receiver);
      void receiver.sink?.discard();
    }
    this.finish(transfer, 'cancelled', `Cancelled by ${this.link.remoteName()}.`);
  }

  private peerFailed(id: string, code: FileErrorCode): void {
    const peer = this.link.remoteName();
    const sender = this.senders.get(id);
    if (sender) {
      const sentences: Partial<Record<FileErrorCode, string>> = {
        'no-space': `${peer} does not have enough free space for this file.`,
        'write-failed': `${peer}'s browser could not save the file.`,
      };
      this.stopSender(sender);
      this.finish(
        sender.transfer,
        'failed',
        sentences[code] ?? `${peer} could not use what was sent; the transfer stopped.`,
      );
      return;
    }
    const receiver = this.receivers.get(id);
    if (receiver) {
      this.forgetReceiver(receiver);
      void receiver.sink?.discard();
      this.finish(
        receiver.transfer,
        'failed',
        code === 'read-failed'
          ? `${peer} could not read the file any more (was it moved or changed?).`
          : `The transfer failed on ${peer}'s side.`,
      );
    }
  }

  /** Cancel one of our transfers (either direction); the peer is told. */
  cancel(id: string): void {
    const sender = this.senders.get(id);
    const receiver = this.receivers.get(id);
    const transfer = sender?.transfer ?? receiver?.transfer ?? this.all.get(id);
    if (!transfer || isFinished(transfer)) return;
    transfer.cancelledBy = 'me';
    if (sender) this.stopSender(sender);
    if (receiver) {
      this.forgetReceiver(receiver);
      void receiver.sink?.discard();
    }
    this.sendControl({ t: 'file-cancel', id, by: transfer.direction === 'out' ? 'sender' : 'receiver' });
    this.finish(transfer, 'cancelled', 'Cancelled.');
  }

  /** The link went away: every unfinished transfer is interrupted and its partial file deleted. */
  close(reason: 'hangup' | 'lost' | 'left'): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.resumeTimer);
    this.detach();
    const peer = this.link.remoteName();
    const sentence =
      reason === 'lost'
        ? 'Interrupted: the connection was lost before the file was complete.'
        : `Interrupted: ${peer} left before the file was complete.`;
    for (const resolve of this.thumbWaiters.values()) resolve();
    for (const sender of this.senders.values()) sender.stop();
    for (const receiver of this.receivers.values()) {
      receiver.drop();
      void receiver.sink?.discard();
    }
    this.senders.clear();
    this.receivers.clear();
    this.receiversByIndex.clear();
    for (const transfer of this.all.values()) {
      if (!isFinished(transfer)) this.finish(transfer, 'interrupted', sentence);
    }
  }

  // ---------- helpers ----------

  private newTransfer(
    id: string,
    direction: 'out' | 'in',
    name: string,
    size: number,
    mime: string,
  ): Transfer {
    const transfer: Transfer = {
      id,
      direction,
      peerId: this.link.peerId,
      peerName: this.link.remoteName(),
      name,
      size,
      mime,
      state: 'preparing',
      bytes: 0,
      thumbnail: null,
      thumbnailProblem: null,
      message: null,
      cancelledBy: null,
      file: null,
      sha256: null,
      times: { offered: now() },
    };
    this.all.set(id, transfer);
    return transfer;
  }

  private finish(transfer: Transfer, state: TransferState, message: string | null): void {
    transfer.state = state;
    transfer.message = message;
    transfer.times.finished = now();
    this.events.onUpdate(transfer);
  }

  private sendControl(message: FileMessage): void {
    if (this.link.send(message)) return;
    if (TERMINAL.has(message.t) && this.link.state === 'paused') this.unsent.push(message);
  }
}

function stripUndefined(options: ExchangeOptions): Partial<typeof DEFAULTS> {
  const out: Partial<typeof DEFAULTS> = {};
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const value = options[key];
    if (typeof value === 'number') out[key] = value;
  }
  return out;
}
