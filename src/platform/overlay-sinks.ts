/**
 * Platform seam: where the extension overlay writes received files (Chrome build). The
 * overlay iframe has no storage in Chrome, so chunks go to the offscreen document. The
 * Firefox build uses overlay-sinks.firefox.ts instead (see background.ts for how).
 */
import type { SinkFactory } from '../call/files/file-sink.ts';
import { OffscreenSinkFactory } from '../call/files/offscreen-sink.ts';

export function extensionOverlaySinks(): SinkFactory & { dispose?(): Promise<void> | void } {
  return new OffscreenSinkFactory();
}
