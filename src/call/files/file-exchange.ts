/**
 * File transfer with one person over their PeerLink: the protocol in
 * src/protocol/peer-files.ts. This class binds the link (its control messages and its `files`
 * channel) to the two directions: OutgoingFiles (outgoing-files.ts: what we send, and the
 * send loop) and IncomingFiles (incoming-files.ts: what we receive); the cards are kept by a
 * TransferBook (transfer-book.ts).
 *
 * The link outlives a connection: when it pauses (the connection was lost), unfinished
 * transfers show "Paused: reconnecting…" and keep what they have; when a new connection
 * attaches, the sender offers each of them again and continues from the bytes the receiver
 * has (the whole file's SHA-256 is still checked at the end). When the link closes for good
 * (the person is gone), they are interrupted and partial files deleted, except incoming ones
 * on the partial shelf (partial-shelf.ts): those wait for the same person to send the same
 * file again, from a new document, and continue from the bytes we have.
 */

import {
  FILE_TYPES,
  type FileErrorCode,
  type FileMessage,
  parseFileMessage,
} from '../../protocol/peer-files.ts';
import type { ControlMessage, PeerLink, PeerLinkState } from '../peer-link.ts';
import {
  type ExchangeContext,
  type ExchangeOptions,
  NOT_UNDERSTOOD,
  settingsFrom,
} from './exchange-context.ts';
import { IncomingFiles } from './incoming-files.ts';
import { OutgoingFiles } from './outgoing-files.ts';
import { isFinished, type Transfer } from './transfer.ts';
import { type ExchangeEvents, PAUSED, TransferBook } from './transfer-book.ts';

export type { ExchangeEvents, ExchangeOptions };
export { NOT_UNDERSTOOD, PAUSED };

/** How long a paused incoming file waits, once a new connection is up, for its sender to continue it. */
const RESUME_WAIT_MS = 15_000;

/** Messages that end a transfer: kept while the link is paused and sent once it is back. */
const TERMINAL: ReadonlySet<string> = new Set(['file-cancel', 'file-error', 'file-result']);

export class FileExchange {
  private readonly book: TransferBook;
  private readonly outgoing: OutgoingFiles;
  private readonly incoming: IncomingFiles;
  private readonly lowWater: number;
  private closed = false;
  /** Terminal messages that could not be sent while the link was paused. */
  private unsent: FileMessage[] = [];
  private unbindChannel: (() => void) | null = null;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly detach: () => void;

  constructor(
    private readonly link: PeerLink,
    options: ExchangeOptions,
    events: ExchangeEvents,
  ) {
    const settings = settingsFrom(options);
    this.lowWater = settings.lowWater;
    this.book = new TransferBook(link, events);
    const exchange = this;
    const ctx: ExchangeContext = {
      link,
      options,
      settings,
      book: this.book,
      get closed() {
        return exchange.closed;
      },
      send: (message) => this.sendControl(message),
    };
    this.outgoing = new OutgoingFiles(ctx);
    this.incoming = new IncomingFiles(ctx);
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
    const onFrame = (event: MessageEvent) => {
      if (!this.closed) this.incoming.onFrame(event.data);
    };
    const onLow = () => this.outgoing.pump();
    files.binaryType = 'arraybuffer';
    files.bufferedAmountLowThreshold = this.lowWater;
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
      this.outgoing.pause();
      this.book.pauseAll();
      this.incoming.shelveAll();
    } else if (state === 'open') {
      this.bindChannel();
      this.resume();
    } else {
      // The person is gone. The panel closes us with the reason in the same task (who
      // left, hung up); this is the fallback.
      queueMicrotask(() => this.close('lost'));
    }
  }

  /**
   * A new connection: send what could not be sent, offer our unfinished files again (the
   * receiver answers where to continue), and let incoming ones continue.
   */
  private resume(): void {
    for (const message of this.unsent.splice(0)) this.sendControl(message);
    this.outgoing.offerAgain();
    // Incoming files continue when their sender offers them again; one whose sender lost it
    // (their page was replaced) does not come back.
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => this.incoming.giveUpPaused(), RESUME_WAIT_MS);
  }

  get peerId(): string {
    return this.link.peerId;
  }

  get peerName(): string {
    return this.link.remoteName();
  }

  transfers(): Transfer[] {
    return this.book.list();
  }

  /** Offer `file` to the peer: offer → thumbnail → body → done. */
  send(file: File): Transfer {
    return this.outgoing.send(file);
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
    const receiver = id === undefined ? undefined : this.incoming.get(id);
    if (receiver && t === 'file-thumb') {
      this.incoming.refuseThumbnail(
        receiver.transfer,
        'The preview was refused: it was too large or not an image.',
      );
      return;
    }
    if (receiver) {
      this.incoming.fail(receiver, 'unsupported', `${NOT_UNDERSTOOD} The transfer was stopped.`);
      return;
    }
    this.book.problem(NOT_UNDERSTOOD);
  }

  private handle(message: FileMessage): void {
    switch (message.t) {
      case 'file-offer':
        if (message.resume) this.incoming.offeredAgain(message);
        else this.incoming.receive(message);
        return;
      case 'file-resume':
        this.outgoing.continueFrom(message.id, message.bytes);
        return;
      case 'file-thumb':
        this.incoming.onThumb(message);
        return;
      case 'file-ack':
        this.outgoing.onAck(message);
        return;
      case 'file-done':
        this.incoming.onDone(message.id, message.sha256);
        return;
      case 'file-result':
        this.outgoing.onResult(message);
        return;
      case 'file-cancel':
        this.cancelled(message.id);
        return;
      case 'file-error':
        this.peerFailed(message.id, message.code);
        return;
    }
  }

  private cancelled(id: string): void {
    const sender = this.outgoing.get(id);
    const receiver = this.incoming.get(id);
    const transfer = sender?.transfer ?? receiver?.transfer;
    if (!transfer || isFinished(transfer)) return;
    transfer.cancelledBy = 'peer';
    if (sender) this.outgoing.stop(sender);
    if (receiver) this.incoming.drop(receiver);
    this.book.finish(transfer, 'cancelled', `Cancelled by ${this.link.remoteName()}.`);
  }

  private peerFailed(id: string, code: FileErrorCode): void {
    const peer = this.link.remoteName();
    const sender = this.outgoing.get(id);
    if (sender) {
      const sentences: Partial<Record<FileErrorCode, string>> = {
        'no-space': `${peer} does not have enough free space for this file.`,
        'write-failed': `${peer}'s browser could not save the file.`,
      };
      this.outgoing.stop(sender);
      this.book.finish(
        sender.transfer,
        'failed',
        sentences[code] ?? `${peer} could not use what was sent; the transfer stopped.`,
      );
      return;
    }
    const receiver = this.incoming.get(id);
    if (receiver) {
      this.incoming.drop(receiver);
      this.book.finish(
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
    const sender = this.outgoing.get(id);
    const receiver = this.incoming.get(id);
    const transfer = sender?.transfer ?? receiver?.transfer ?? this.book.get(id);
    if (!transfer || isFinished(transfer)) return;
    transfer.cancelledBy = 'me';
    if (sender) this.outgoing.stop(sender);
    if (receiver) this.incoming.drop(receiver);
    this.sendControl({ t: 'file-cancel', id, by: transfer.direction === 'out' ? 'sender' : 'receiver' });
    this.book.finish(transfer, 'cancelled', 'Cancelled.');
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
    // Lost, not left: they may still be in the call, keeping what they received for us.
    const sendAgain = new Set(
      this.book.list().filter((t) => reason === 'lost' && this.outgoing.resumable(t.id)),
    );
    this.outgoing.stopAll();
    // A link can close without pausing first (a page that went said bye): shelve now (what
    // stays on the shelf waits paused; the rest is finished below).
    this.book.pauseAll();
    this.incoming.shelveAll();
    const kept = this.incoming.dropAll();
    for (const transfer of this.book.list()) {
      if (isFinished(transfer) || kept.has(transfer)) continue;
      this.book.finish(
        transfer,
        'interrupted',
        sendAgain.has(transfer) ? `${sentence} Send it again to continue.` : sentence,
      );
    }
  }

  private sendControl(message: FileMessage): void {
    if (this.link.send(message)) return;
    if (TERMINAL.has(message.t) && this.link.state === 'paused') this.unsent.push(message);
  }
}
