/**
 * Platform seam: where the extension overlay writes received files (Chrome build). The
 * overlay iframe has no storage in Chrome, so chunks go to the offscreen document. The
 * Firefox build uses overlay-sinks.firefox.ts instead (see background.ts for how).
 */
import type { SinkFactory } from '../call/files/file-sink.ts';
import { leaveOffscreenWriters, OffscreenSinkFactory } from '../call/files/offscreen-sink.ts';

export function extensionOverlaySinks(): SinkFactory & { dispose?(): Promise<void> | void } {
  return new OffscreenSinkFactory();
}

/**
 * This overlay goes away and the call goes on in another one (the page deleted it, the call
 * moves to its window or to another page): let go of the file writer without deleting the
 * files still being received; the offscreen document keeps them for the next overlay.
 */
export function leaveFileWriters(): void {
  leaveOffscreenWriters();
}
