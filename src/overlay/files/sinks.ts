/**
 * Where this overlay writes received files: the guest page is top-level and has OPFS (a
 * worker writes there); the extension overlay iframe has no storage and goes through the
 * offscreen document. A browser with neither keeps Blobs (Chromium spills large ones to disk).
 */
import type { SinkFactory } from '../../call/files/file-sink.ts';
import { blobListSinks } from '../../call/files/memory-sink.ts';
import { OffscreenSinkFactory } from '../../call/files/offscreen-sink.ts';
import { OpfsSinkFactory } from '../../call/files/opfs-sink.ts';

export function sinksFor(host: 'guest' | 'extension'): SinkFactory & { dispose?(): Promise<void> | void } {
  if (host === 'extension' && typeof chrome !== 'undefined' && chrome.runtime?.id)
    return new OffscreenSinkFactory();
  if (typeof navigator.storage?.getDirectory === 'function' && typeof Worker === 'function')
    return new OpfsSinkFactory();
  return blobListSinks;
}
