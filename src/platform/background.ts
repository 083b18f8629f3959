/**
 * Platform seam for the background (Chrome build). The Firefox build replaces this module
 * with background.firefox.ts (vite.firefox.config.ts resolves `<name>.ts` in src/platform/ to
 * `<name>.firefox.ts` when that file exists); both export the same functions.
 */
import { registerOffscreenHost } from '../background/offscreen-host.ts';

/** Start what this browser needs beside the calls: Chrome's offscreen file writer. */
export function startPlatformHosts(): void {
  registerOffscreenHost();
}

/**
 * Called with every signaling keepalive. Chrome keeps a service worker alive while a
 * WebSocket exchanges messages, so nothing more is needed here.
 */
export function keepBackgroundAlive(): void {}
