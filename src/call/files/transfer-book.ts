/**
 * The transfers one exchange shows as cards: makes them, tells the UI of every change
 * (ExchangeEvents), and remembers what each paused transfer was doing so that it can
 * continue as it was.
 */
import { isFinished, type Transfer, type TransferState } from './transfer.ts';

export interface ExchangeEvents {
  /**
   * A new transfer (ours or the peer's): show a card. `continues`: an earlier transfer of the
   * same file whose partial copy this one continues (sent again): its card is replaced.
   */
  onTransfer(transfer: Transfer, continues?: Transfer): void;
  /** State, progress or thumbnail changed. Progress changes come often: render throttled. */
  onUpdate(transfer: Transfer): void;
  /** Something from the peer that cannot be tied to a transfer. */
  onProblem(sentence: string): void;
  /** Resolves once a received thumbnail is on screen (the sender waits for this before the body). */
  thumbnailShown?(transfer: Transfer): Promise<void>;
}

export const PAUSED = 'Paused: reconnecting…';

export function now(): number {
  return performance.now();
}

export class TransferBook {
  private readonly all = new Map<string, Transfer>();
  /** What each paused transfer was doing (restored when it continues). */
  private readonly pausedFrom = new Map<Transfer, TransferState>();

  constructor(
    private readonly peer: { readonly peerId: string; remoteName(): string },
    readonly events: ExchangeEvents,
  ) {}

  get(id: string): Transfer | undefined {
    return this.all.get(id);
  }

  has(id: string): boolean {
    return this.all.has(id);
  }

  list(): Transfer[] {
    return [...this.all.values()];
  }

  /** A new transfer, kept here (the caller shows it with `show` once it is set up). */
  create(id: string, direction: 'out' | 'in', name: string, size: number, mime: string): Transfer {
    const transfer: Transfer = {
      id,
      direction,
      peerId: this.peer.peerId,
      peerName: this.peer.remoteName(),
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

  show(transfer: Transfer, continues?: Transfer): void {
    this.events.onTransfer(transfer, continues);
  }

  /** Another transfer continues this one (its file was sent again): finished without a word. */
  retire(transfer: Transfer): void {
    this.pausedFrom.delete(transfer);
    transfer.state = 'interrupted';
    transfer.message = 'Continued when it was sent again.';
    transfer.times.finished = now();
  }

  changed(transfer: Transfer): void {
    this.events.onUpdate(transfer);
  }

  problem(sentence: string): void {
    this.events.onProblem(sentence);
  }

  finish(transfer: Transfer, state: TransferState, message: string | null): void {
    transfer.state = state;
    transfer.message = message;
    transfer.times.finished = now();
    this.events.onUpdate(transfer);
  }

  /** Move to `state`; a paused transfer takes it when it continues. */
  advance(transfer: Transfer, state: TransferState): void {
    if (transfer.state === 'paused') this.pausedFrom.set(transfer, state);
    else transfer.state = state;
  }

  /** The connection was lost: every unfinished transfer waits, keeping what it has. */
  pauseAll(): void {
    for (const transfer of this.all.values()) {
      if (isFinished(transfer) || transfer.state === 'paused') continue;
      this.pausedFrom.set(transfer, transfer.state);
      transfer.state = 'paused';
      transfer.message = PAUSED;
      this.events.onUpdate(transfer);
    }
  }

  unpause(transfer: Transfer): void {
    const before = this.pausedFrom.get(transfer);
    this.pausedFrom.delete(transfer);
    if (before === undefined || transfer.state !== 'paused') return;
    transfer.state = before;
    transfer.message = null;
    this.events.onUpdate(transfer);
  }
}
