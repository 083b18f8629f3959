/**
 * The extension's file writer: a top-level extension document (so it has the origin private
 * file system, which the overlay iframe does not) that writes received files for overlays.
 * Each overlay connects one port; its files are written and hashed by the same OPFS writer
 * worker as the guest page's (src/call/files/opfs-sink.ts), one per port, in
 * parley-incoming/<session>/, and are deleted when the port goes away (call ended, tab
 * closed); files still being received then are kept for KEEP_MS, for the next overlay of the
 * call (the page re-mounted it, the call moved to its window) to `adopt` and continue. At startup everything left from an earlier run is deleted: this document is the
 * only writer.
 */
import * as v from 'valibot';
import type { FileSink } from '../call/files/file-sink.ts';
import { INCOMING_DIR, OpfsSinkFactory } from '../call/files/opfs-sink.ts';
import {
  type KeptFile,
  type OverlayToWriter,
  OverlayToWriterSchema,
  WRITER_PORT_NAME,
  WriterChannelSchema,
  type WriterToOverlay,
} from './writer-protocol.ts';

const startup = (async () => {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(INCOMING_DIR, { recursive: true }).catch(() => {});
})();

/**
 * How long the unfinished files of an overlay that went away (its page deleted it, the call
 * moved to its window) wait for the next overlay to continue them (`adopt`).
 */
const KEEP_MS = 60_000;

interface Owner {
  reply(message: WriterToOverlay): void;
  fail(key: string, message: string, noSpace?: boolean): void;
}

/** One unfinished file; its owner changes when another overlay adopts it. */
interface Held {
  sink: FileSink;
  owner: Owner;
}

/**
 * An overlay's unfinished files (received, and the Files it sends: structured clone carries
 * a File over the port, and it stays readable here after the overlay's document is gone), and
 * the writers (one per port) whose folders hold its received files.
 */
interface Files {
  open: Map<string, Held>;
  kept: Map<string, KeptFile & { peer: string }>;
  factories: OpfsSinkFactory[];
}

/** Files of overlays that went away, until adopted or KEEP_MS passed. */
const parked = new Set<{ files: Files; timer: ReturnType<typeof setTimeout> }>();

async function discardAll(files: Files): Promise<void> {
  for (const held of files.open.values()) await held.sink.discard();
  files.open.clear();
  files.kept.clear();
  for (const factory of files.factories) await factory.dispose();
}

/**
 * How long a direct channel waits here for its overlay's `bind` (or a `bind` for its channel).
 * The overlay gives up after 2 s and sends everything on its runtime port; a channel whose
 * bind never comes (the overlay went away first, its bind was lost) is closed and forgotten.
 */
export const CHANNEL_PAIRING_MS = 10_000;

/**
 * Direct channels (writer-protocol.ts, WRITER_CHANNEL) met on one side: ports that came from
 * the service worker before their overlay's `bind`, and `bind`s waiting for their port.
 */
const channelPorts = new Map<string, { channel: MessagePort; timer: ReturnType<typeof setTimeout> }>();
const channelBinds = new Map<string, (channel: MessagePort) => void>();

function offerChannel(token: string, channel: MessagePort): void {
  const bind = channelBinds.get(token);
  channelBinds.delete(token);
  if (bind) {
    bind(channel);
    return;
  }
  if (channelPorts.has(token)) {
    channel.close(); // a token names one channel
    return;
  }
  const timer = setTimeout(() => {
    if (channelPorts.get(token)?.channel !== channel) return;
    channelPorts.delete(token);
    channel.close();
  }, CHANNEL_PAIRING_MS);
  channelPorts.set(token, { channel, timer });
}

/** Returns a function that stops waiting. */
function awaitChannel(token: string, bind: (channel: MessagePort) => void): () => void {
  const waiting = channelPorts.get(token);
  channelPorts.delete(token);
  if (waiting) {
    clearTimeout(waiting.timer);
    bind(waiting.channel);
    return () => {};
  }
  const stop = () => {
    clearTimeout(timer);
    if (channelBinds.get(token) === waiter) channelBinds.delete(token);
  };
  const timer = setTimeout(stop, CHANNEL_PAIRING_MS);
  const waiter = (channel: MessagePort) => {
    clearTimeout(timer);
    bind(channel);
  };
  channelBinds.set(token, waiter);
  return stop;
}

function serve(port: chrome.runtime.Port): void {
  const sinks = new OpfsSinkFactory(undefined, 0);
  const files: Files = { open: new Map(), kept: new Map(), factories: [sinks] };
  let queue: Promise<void> = startup;
  let gone = false;
  const owner: Owner = {
    reply(message) {
      if (!gone) port.postMessage(message);
    },
    fail(key, message, noSpace = false) {
      const held = files.open.get(key);
      files.open.delete(key);
      void held?.sink.discard();
      owner.reply({ op: 'error', key, message, noSpace });
    },
  };
  const reply = owner.reply;

  /** Take over the files of an overlay that went away (all of them: one call). */
  const take = (park: { files: Files; timer: ReturnType<typeof setTimeout> }): void => {
    clearTimeout(park.timer);
    parked.delete(park);
    for (const [key, held] of park.files.open) {
      held.owner = owner;
      files.open.set(key, held);
    }
    for (const [key, kept] of park.files.kept) files.kept.set(key, kept);
    files.factories.push(...park.files.factories);
  };
  const adopt = (key: string): void => {
    const park = [...parked].find((p) => p.files.open.has(key));
    if (park) take(park);
  };

  async function handle(message: OverlayToWriter): Promise<void> {
    switch (message.op) {
      case 'estimate': {
        reply({ op: 'estimate', free: (await sinks.freeBytes()) ?? null });
        return;
      }
      case 'open': {
        const { key } = message;
        const held: Held = { sink: null as unknown as FileSink, owner };
        held.sink = await sinks.create(key, key, '', {
          onWritten: (total) => held.owner.reply({ op: 'written', key, total }),
          onError: (sentence, reason) => held.owner.fail(key, sentence, reason === 'no-space'),
        });
        files.open.set(key, held);
        return;
      }
      case 'adopt': {
        const { key } = message;
        if (!files.open.has(key)) adopt(key);
        const sink = files.open.get(key)?.sink;
        const written = sink?.position ? await sink.position().catch(() => null) : null;
        reply({ op: 'adopted', key, written });
        return;
      }
      case 'keep': {
        const { key, peer, index, file } = message;
        files.kept.set(key, { key, peer, index, file });
        return;
      }
      case 'release': {
        files.kept.delete(message.key);
        return;
      }
      case 'reclaim': {
        const { peer } = message;
        for (const park of [...parked]) {
          if ([...park.files.kept.values()].some((kept) => kept.peer === peer)) take(park);
        }
        const found = [...files.kept.values()]
          .filter((kept) => kept.peer === peer)
          .map(({ key, index, file }) => ({ key, index, file }));
        reply({ op: 'reclaimed', peer, files: found });
        return;
      }
      case 'write': {
        // Posted to the worker without waiting: writes stay in order there.
        const sink = files.open.get(message.key)?.sink;
        for (const chunk of message.chunks) sink?.write(chunk);
        return;
      }
      case 'digest': {
        const sink = files.open.get(message.key)?.sink;
        if (sink?.digest) reply({ op: 'digest', key: message.key, sha256: await sink.digest() });
        return;
      }
      case 'close': {
        const sink = files.open.get(message.key)?.sink;
        if (!sink) return;
        files.open.delete(message.key);
        reply({ op: 'closed', key: message.key, file: await sink.close() });
        return;
      }
      case 'discard': {
        const sink = files.open.get(message.key)?.sink;
        files.open.delete(message.key);
        await sink?.discard();
        reply({ op: 'discarded', key: message.key });
        return;
      }
    }
  }

  let channel: MessagePort | null = null;
  /** A bind was asked (once per port); stops waiting for its channel. */
  let stopWaiting: (() => void) | null = null;
  const receive = (raw: unknown) => {
    const parsed = v.safeParse(OverlayToWriterSchema, raw);
    if (!parsed.success) return;
    const message = parsed.output;
    if (message.op === 'bind') {
      if (channel || stopWaiting) return;
      stopWaiting = awaitChannel(message.token, (bound) => {
        if (gone) {
          bound.close();
          return;
        }
        channel = bound;
        bound.onmessage = (event: MessageEvent) => receive(event.data);
        bound.postMessage({ op: 'bound' } satisfies WriterToOverlay);
      });
      return;
    }
    queue = queue.then(() =>
      handle(message).catch(() => {
        if ('key' in message) owner.fail(message.key, 'The browser could not write the file to disk.');
      }),
    );
  };
  port.onMessage.addListener(receive);

  port.onDisconnect.addListener(() => {
    gone = true;
    channel?.close();
    stopWaiting?.();
    queue = queue.then(async () => {
      // Unfinished files wait a while for the next overlay (re-mounted, or the call's window).
      if (files.open.size === 0 && files.kept.size === 0) {
        await discardAll(files);
        return;
      }
      const park = {
        files,
        timer: setTimeout(() => {
          parked.delete(park);
          void discardAll(files);
        }, KEEP_MS),
      };
      parked.add(park);
    });
  });
}

// The service worker hands over overlays' direct channels (it alone can post here).
const container = navigator.serviceWorker as ServiceWorkerContainer | undefined;
container?.addEventListener('message', (event: MessageEvent) => {
  const parsed = v.safeParse(WriterChannelSchema, event.data);
  const channel = event.ports[0];
  if (parsed.success && channel) offerChannel(parsed.output.token, channel);
});
container?.startMessages();

chrome.runtime.onConnect.addListener((port) => {
  // Only our own extension pages (the overlay) may write; web pages cannot connect here.
  if (port.name !== WRITER_PORT_NAME || port.sender?.id !== chrome.runtime.id) return;
  serve(port);
});
