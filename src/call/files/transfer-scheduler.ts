/**
 * Round-robin between the transfers that share one `files` channel: each call to `next`
 * starts looking just after the transfer that sent last, so a big file cannot starve the
 * small ones queued behind it.
 */
export class TransferScheduler<T> {
  private readonly items: T[] = [];
  private cursor = 0;

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    this.items.push(item);
  }

  remove(item: T): void {
    const at = this.items.indexOf(item);
    if (at < 0) return;
    this.items.splice(at, 1);
    if (at < this.cursor) this.cursor -= 1;
    if (this.cursor >= this.items.length) this.cursor = 0;
  }

  /** The next item (in turn) for which `ready` is true, or undefined if none is ready. */
  next(ready: (item: T) => boolean): T | undefined {
    const count = this.items.length;
    for (let step = 0; step < count; step += 1) {
      const at = (this.cursor + step) % count;
      const item = this.items[at]!;
      if (ready(item)) {
        this.cursor = (at + 1) % count;
        return item;
      }
    }
    return undefined;
  }

  values(): readonly T[] {
    return this.items;
  }
}
