/**
 * "Share this tab" in the overlay on a page: the page the overlay is on, without the overlay.
 *
 * The capture is getDisplayMedia with the current tab preferred (screen-share.ts): Chrome asks
 * "Share this tab?" with one button. The overlay iframe cannot touch the page, so it asks the
 * content script (src/content/mount-overlay.ts, over postMessage to the parent) for a
 * RestrictionTarget of the page's root element, and restricts the capture track to it
 * (Element Capture, Chrome 132+): the capture then shows the page's root element and what it
 * paints, and not the top layer, where the overlay's host sits. Nothing is sent before the
 * restriction holds.
 */
import { type ScreenCapture, ScreenShareError } from '../call/screen-share.ts';

/** How long the content script may take to answer (it answers at once when it is there). */
const TARGET_WAIT_MS = 3000;

type RestrictableTrack = MediaStreamTrack & { restrictTo?: (target: unknown) => Promise<void> };

/** This browser can leave the overlay out of a capture of its own tab. */
export function canShareThisTab(): boolean {
  return (
    typeof (globalThis as { RestrictionTarget?: unknown }).RestrictionTarget === 'function' &&
    typeof navigator.mediaDevices?.getDisplayMedia === 'function'
  );
}

/** The page's root element as a RestrictionTarget, from the content script; null if none came. */
export function requestTabTarget(): Promise<unknown | null> {
  return new Promise((resolve) => {
    const done = (target: unknown | null) => {
      clearTimeout(timer);
      removeEventListener('message', onMessage);
      resolve(target);
    };
    const onMessage = (event: MessageEvent) => {
      // Only the window we are framed in (the page: its content script answers there).
      if (event.source !== parent) return;
      // The content script answers with the token, or null (a page's own messages are neither).
      const Target = (globalThis as { RestrictionTarget?: abstract new () => unknown }).RestrictionTarget;
      if (event.data === null || (Target && event.data instanceof Target)) done(event.data);
    };
    const timer = setTimeout(() => done(null), TARGET_WAIT_MS);
    addEventListener('message', onMessage);
    parent.postMessage('parley-tab', '*');
  });
}

/**
 * Restrict a capture of this tab to the page (no overlay). Throws ScreenShareError when that
 * cannot be done: then nothing is shared rather than the call itself.
 */
export async function restrictToPage(capture: ScreenCapture): Promise<void> {
  const track = capture.video as RestrictableTrack;
  const cannot = new ScreenShareError(
    'unsupported',
    'Parley could not keep the call itself out of the shared tab, so nothing was shared. Use Share screen and pick a window instead.',
  );
  if (typeof track.restrictTo !== 'function') throw cannot;
  const target = await requestTabTarget();
  if (!target) throw cannot;
  try {
    await track.restrictTo(target);
  } catch {
    throw cannot;
  }
}
