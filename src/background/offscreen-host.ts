/**
 * Background side of the offscreen file writer (src/offscreen/offscreen.ts): overlays ask for
 * it with ENSURE_WRITER before connecting, and we create the document once (reason BLOBS: it
 * receives Blobs from the overlay and writes them to the origin private file system, which
 * the overlay iframe cannot reach).
 */
import * as v from 'valibot';
import { ENSURE_WRITER, OFFSCREEN_PATH, WriterChannelSchema } from '../offscreen/writer-protocol.ts';

/** What this module uses of the service worker's global scope (tsconfig has no WebWorker lib). */
interface WorkerClient {
  url: string;
  postMessage(message: unknown, transfer: Transferable[]): void;
}
interface ChannelEvent {
  data: unknown;
  ports: readonly MessagePort[];
  source: { url?: string } | null;
  waitUntil(promise: Promise<unknown>): void;
}
interface ServiceWorkerScope {
  addEventListener(type: 'message', listener: (event: ChannelEvent) => void): void;
  clients: { matchAll(options: { includeUncontrolled: boolean; type: 'all' }): Promise<WorkerClient[]> };
}

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

/**
 * An overlay's direct channel to the writer (writer-protocol.ts, WRITER_CHANNEL): pass its
 * MessagePort on to the offscreen document. Only our extension's own documents can post to
 * this worker; the offscreen document pairs the port with that overlay's runtime port by token.
 */
function forwardChannel(event: ChannelEvent): void {
  const parsed = v.safeParse(WriterChannelSchema, event.data);
  const port = event.ports[0];
  if (!parsed.success || !port) return;
  if (!event.source?.url?.startsWith(chrome.runtime.getURL(''))) return;
  event.waitUntil(
    (async () => {
      await ensureWriter();
      const url = chrome.runtime.getURL(OFFSCREEN_PATH);
      const scope = globalThis as unknown as ServiceWorkerScope;
      const clients = await scope.clients.matchAll({ includeUncontrolled: true, type: 'all' });
      clients.find((client) => client.url === url)?.postMessage(parsed.output, [port]);
    })().catch(() => {}),
  );
}

export function registerOffscreenHost(): void {
  (globalThis as unknown as ServiceWorkerScope).addEventListener('message', forwardChannel);
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
