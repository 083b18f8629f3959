/**
 * Partial incoming files whose sender's document went away mid-file (a guest page reloaded;
 * an overlay without an offscreen document re-mounted), kept for the same person to send the
 * same file again and continue from the bytes we have ("send it again to continue").
 *
 * One shelf per document that receives (the files panel), shared by the exchanges with every
 * person: the person who sends again comes back on a new link (a reloaded guest page has a
 * new peer id). A file goes on the shelf when its link pauses, if its offer was `resumable`
 * and its storage is open; it comes off when it continues on the same link, when an offer
 * matches it (same send-again key, first-chunk hash, size and name: see send-again-key.ts),
 * or when it is dropped. Bounded: at most MAX_FILES files, each for KEEP_MS at most from when
 * it was shelved; the oldest is dropped to make room, and a dropped file's partial copy is
 * deleted and its card says why.
 */
import type { Resumable } from '../../protocol/peer-files.ts';
import type { FileReceiver } from './file-receiver.ts';
import type { Transfer, TransferState } from './transfer.ts';

export const MAX_FILES = 4;
export const KEEP_MS = 10 * 60 * 1000;

/** What an offer must repeat to continue a shelved file. */
export interface PartialMatch extends Resumable {
  size: number;
  /** The name as offered (before it was made safe for showing). */
  name: string;
}

export interface ShelvedPartial {
  readonly match: PartialMatch;
  /** Its card. */
  readonly transfer: Transfer;
  /** Taken over by a new offer: its owner lets it go without deleting it. */
  take(): FileReceiver;
  /** Dropped from the shelf (too old, no room, cancelled, the call ended): delete it; `sentence` on its card. */
  drop(sentence: string, state?: Extract<TransferState, 'interrupted' | 'cancelled'>): void;
}

export class PartialShelf {
  private readonly entries: { partial: ShelvedPartial; timer: ReturnType<typeof setTimeout> }[] = [];

  constructor(
    private readonly limits: { maxFiles: number; keepMs: number } = { maxFiles: MAX_FILES, keepMs: KEEP_MS },
  ) {}

  get size(): number {
    return this.entries.length;
  }

  has(partial: ShelvedPartial): boolean {
    return this.entries.some((e) => e.partial === partial);
  }

  put(partial: ShelvedPartial): void {
    if (this.has(partial)) return;
    while (this.entries.length >= this.limits.maxFiles) {
      const oldest = this.entries[0]!.partial;
      this.remove(oldest);
      oldest.drop(
        'Interrupted: too many unfinished files were waiting to be sent again; this one was deleted.',
      );
    }
    const minutes = Math.round(this.limits.keepMs / 60_000);
    const timer = setTimeout(() => {
      this.remove(partial);
      partial.drop(
        `Interrupted: it was not sent again within ${minutes} minute${minutes === 1 ? '' : 's'}; the part received was deleted.`,
      );
    }, this.limits.keepMs);
    this.entries.push({ partial, timer });
  }

  /** Off the shelf without a word (it continues, or its owner stopped it). */
  remove(partial: ShelvedPartial): void {
    const at = this.entries.findIndex((e) => e.partial === partial);
    if (at < 0) return;
    clearTimeout(this.entries[at]!.timer);
    this.entries.splice(at, 1);
  }

  /** The shelved file this offer continues, taken off the shelf; undefined when none matches. */
  claim(offer: PartialMatch): ShelvedPartial | undefined {
    const found = this.entries.find(({ partial: { match } }) => sameFile(match, offer));
    if (!found) return undefined;
    this.remove(found.partial);
    return found.partial;
  }

  /** Cancel from its card (its person's exchange may be gone). True if it was here. */
  cancel(transfer: Transfer): boolean {
    const found = this.entries.find((e) => e.partial.transfer === transfer);
    if (!found) return false;
    this.remove(found.partial);
    found.partial.drop('Cancelled.', 'cancelled');
    return true;
  }

  /** The call ended here: every shelved file is deleted. */
  dispose(): void {
    for (const { partial } of [...this.entries]) {
      this.remove(partial);
      partial.drop('Interrupted: the call ended before the file was complete.');
    }
  }
}

function sameFile(a: PartialMatch, b: PartialMatch): boolean {
  return a.key === b.key && a.head === b.head && a.size === b.size && a.name === b.name;
}
