/**
 * Platform seam: where the extension overlay writes received files (Firefox build). An
 * extension frame inside a web page has storage in Firefox (per extension, not per site), so
 * the overlay writes to the origin private file system itself, like the guest page does.
 */
import type { SinkFactory } from '../call/files/file-sink.ts';
import { OpfsSinkFactory } from '../call/files/opfs-sink.ts';

export function extensionOverlaySinks(): SinkFactory & { dispose?(): Promise<void> | void } {
  return new OpfsSinkFactory();
}

/**
 * Firefox: the overlay's own OPFS writer goes with it, so the next overlay starts unfinished
 * files over (nothing to hand over).
 */
export function leaveFileWriters(): void {}
