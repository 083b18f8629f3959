/**
 * The extension's file writer: a top-level extension document (so it has the origin private
 * file system, which the overlay iframe does not) that writes received files for overlays.
 * Each overlay connects one port; its files live in parley-incoming/<port session>/ and are
 * deleted when the port goes away (call ended, tab closed). At startup everything left from
 * an earlier run is deleted: this document is the only writer.
 */
import * as v from 'valibot';
import {
  type OverlayToWriter,
  OverlayToWriterSchema,
  WRITER_PORT_NAME,
  type WriterToOverlay,
} from './writer-protocol.ts';

const INCOMING = 'parley-incoming';

async function incomingDir(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(INCOMING, { create: true });
}

const startup = (async () => {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(INCOMING, { recursive: true }).catch(() => {});
})();

interface OpenFile {
  handle: FileSystemFileHandle;
  writable: FileSystemWritableFileStream;
  written: number;
}

function serve(port: chrome.runtime.Port): void {
  const session = crypto.randomUUID();
  const open = new Map<string, OpenFile>();
  let queue: Promise<void> = startup;
  let gone = false;
  const dir = startup.then(async () => (await incomingDir()).getDirectoryHandle(session, { create: true }));
  const reply = (message: WriterToOverlay) => {
    if (!gone) port.postMessage(message);
  };

  async function handle(message: OverlayToWriter): Promise<void> {
    switch (message.op) {
      case 'estimate': {
        const { quota, usage } = await navigator.storage.estimate();
        reply({ op: 'estimate', free: quota === undefined ? null : quota - (usage ?? 0) });
        return;
      }
      case 'open': {
        const handle = await (await dir).getFileHandle(message.key, { create: true });
        open.set(message.key, { handle, writable: await handle.createWritable(), written: 0 });
        return;
      }
      case 'write': {
        const file = open.get(message.key);
        if (!file) return;
        await file.writable.write(message.blob);
        file.written += message.blob.size;
        reply({ op: 'written', key: message.key, total: file.written });
        return;
      }
      case 'close': {
        const file = open.get(message.key);
        if (!file) return;
        await file.writable.close();
        open.delete(message.key);
        reply({ op: 'closed', key: message.key, file: await file.handle.getFile() });
        return;
      }
      case 'discard': {
        const file = open.get(message.key);
        open.delete(message.key);
        await file?.writable.abort().catch(() => {});
        await (await dir).removeEntry(message.key).catch(() => {});
        reply({ op: 'discarded', key: message.key });
        return;
      }
    }
  }

  port.onMessage.addListener((raw: unknown) => {
    const parsed = v.safeParse(OverlayToWriterSchema, raw);
    if (!parsed.success) return;
    const message = parsed.output;
    queue = queue.then(() =>
      handle(message).catch((error: unknown) => {
        if (!('key' in message)) return;
        const file = open.get(message.key);
        open.delete(message.key);
        void file?.writable.abort().catch(() => {});
        reply({ op: 'error', key: message.key, name: error instanceof DOMException ? error.name : 'Error' });
      }),
    );
  });

  port.onDisconnect.addListener(() => {
    gone = true;
    queue = queue.then(async () => {
      for (const file of open.values()) await file.writable.abort().catch(() => {});
      open.clear();
      await (await incomingDir()).removeEntry(session, { recursive: true }).catch(() => {});
    });
  });
}

chrome.runtime.onConnect.addListener((port) => {
  // Only our own extension pages (the overlay) may write; web pages cannot connect here.
  if (port.name !== WRITER_PORT_NAME || port.sender?.id !== chrome.runtime.id) return;
  serve(port);
});
