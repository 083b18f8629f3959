/**
 * The extension's file writer: a top-level extension document (so it has the origin private
 * file system, which the overlay iframe does not) that writes received files for overlays.
 * Each overlay connects one port; its files are written and hashed by the same OPFS writer
 * worker as the guest page's (src/call/files/opfs-sink.ts), one per port, in
 * parley-incoming/<session>/, and are deleted when the port goes away (call ended, tab
 * closed). At startup everything left from an earlier run is deleted: this document is the
 * only writer.
 */
import * as v from 'valibot';
import type { FileSink } from '../call/files/file-sink.ts';
import { INCOMING_DIR, OpfsSinkFactory } from '../call/files/opfs-sink.ts';
import {
  type OverlayToWriter,
  OverlayToWriterSchema,
  WRITER_PORT_NAME,
  type WriterToOverlay,
} from './writer-protocol.ts';

const startup = (async () => {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(INCOMING_DIR, { recursive: true }).catch(() => {});
})();

function serve(port: chrome.runtime.Port): void {
  const sinks = new OpfsSinkFactory(undefined, 0);
  const open = new Map<string, FileSink>();
  let queue: Promise<void> = startup;
  let gone = false;
  const reply = (message: WriterToOverlay) => {
    if (!gone) port.postMessage(message);
  };
  const fail = (key: string, message: string, noSpace = false) => {
    const sink = open.get(key);
    open.delete(key);
    void sink?.discard();
    reply({ op: 'error', key, message, noSpace });
  };

  async function handle(message: OverlayToWriter): Promise<void> {
    switch (message.op) {
      case 'estimate': {
        reply({ op: 'estimate', free: (await sinks.freeBytes()) ?? null });
        return;
      }
      case 'open': {
        const { key } = message;
        const sink = await sinks.create(key, key, '', {
          onWritten: (total) => reply({ op: 'written', key, total }),
          onError: (sentence, reason) => fail(key, sentence, reason === 'no-space'),
        });
        open.set(key, sink);
        return;
      }
      case 'write': {
        // Posted to the worker without waiting: writes stay in order there.
        const sink = open.get(message.key);
        for (const chunk of message.chunks) sink?.write(chunk);
        return;
      }
      case 'digest': {
        const sink = open.get(message.key);
        if (sink?.digest) reply({ op: 'digest', key: message.key, sha256: await sink.digest() });
        return;
      }
      case 'close': {
        const sink = open.get(message.key);
        if (!sink) return;
        open.delete(message.key);
        reply({ op: 'closed', key: message.key, file: await sink.close() });
        return;
      }
      case 'discard': {
        const sink = open.get(message.key);
        open.delete(message.key);
        await sink?.discard();
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
      handle(message).catch(() => {
        if ('key' in message) fail(message.key, 'The browser could not write the file to disk.');
      }),
    );
  });

  port.onDisconnect.addListener(() => {
    gone = true;
    queue = queue.then(async () => {
      for (const sink of open.values()) await sink.discard();
      open.clear();
      await sinks.dispose();
    });
  });
}

chrome.runtime.onConnect.addListener((port) => {
  // Only our own extension pages (the overlay) may write; web pages cannot connect here.
  if (port.name !== WRITER_PORT_NAME || port.sender?.id !== chrome.runtime.id) return;
  serve(port);
});
