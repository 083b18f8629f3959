/**
 * Background side of the offscreen file writer (src/offscreen/offscreen.ts): overlays ask for
 * it with ENSURE_WRITER before connecting, and we create the document once (reason BLOBS: it
 * receives Blobs from the overlay and writes them to the origin private file system, which
 * the overlay iframe cannot reach).
 */
import { ENSURE_WRITER, OFFSCREEN_PATH } from '../offscreen/writer-protocol.ts';

let creating: Promise<void> | null = null;

async function ensureWriter(): Promise<void> {
  const url = chrome.runtime.getURL(OFFSCREEN_PATH);
  const existing = await chrome.runtime.getContexts({
    contextTypes: ['OFFSCREEN_DOCUMENT' as chrome.runtime.ContextType],
    documentUrls: [url],
  });
  if (existing.length > 0) return;
  creating ??= chrome.offscreen
    .createDocument({
      url: OFFSCREEN_PATH,
      reasons: ['BLOBS' as chrome.offscreen.Reason],
      justification:
        'Writes files received in a call to disk while they arrive, so large files never fill memory.',
    })
    .finally(() => {
      creating = null;
    });
  await creating;
}

export function registerOffscreenHost(): void {
  chrome.runtime.onMessage.addListener((message: unknown, sender, sendResponse) => {
    if ((message as { parley?: unknown } | null)?.parley !== ENSURE_WRITER.parley) return false;
    if (sender.id !== chrome.runtime.id) return false;
    ensureWriter().then(
      () => sendResponse({ ok: true }),
      () => sendResponse({ ok: false }),
    );
    return true;
  });
}
