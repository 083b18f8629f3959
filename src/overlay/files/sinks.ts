/**
 * Where this overlay writes received files: the guest page is top-level and has OPFS (a
 * worker writes there); the extension overlay asks the platform seam (Chrome: the offscreen
 * document, as its iframe has no storage; Firefox: OPFS from the frame itself). A browser
 * with neither keeps Blobs (Chromium spills large ones to disk).
 */
import type { SinkFactory } from '../../call/files/file-sink.ts';
import { blobListSinks } from '../../call/files/memory-sink.ts';
import { OpfsSinkFactory } from '../../call/files/opfs-sink.ts';
import { extensionOverlaySinks } from '../../platform/overlay-sinks.ts';

export function sinksFor(host: 'guest' | 'extension'): SinkFactory & { dispose?(): Promise<void> | void } {
  if (host === 'extension' && typeof chrome !== 'undefined' && chrome.runtime?.id)
    return extensionOverlaySinks();
  if (typeof navigator.storage?.getDirectory === 'function' && typeof Worker === 'function')
    return new OpfsSinkFactory();
  return blobListSinks;
}
