/**
 * OffscreenSinkFactory against a fake offscreen writer (chrome.runtime and the service worker
 * faked, the direct channel a real MessageChannel): what the overlay asks while the channel
 * is still being set up must reach the writer.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OverlayToWriter, WriterToOverlay } from '../../offscreen/writer-protocol.ts';
import { OffscreenSinkFactory } from './offscreen-sink.ts';

type Listener<T> = (value: T) => void;

/** The writer's side: a runtime port and the channel the service worker hands over. */
function fakeWriter() {
  const replyListeners: Listener<WriterToOverlay>[] = [];
  const onPort: OverlayToWriter[] = [];
  const onChannel: OverlayToWriter[] = [];
  let channel: MessagePort | null = null;
  let bindToken: string | null = null;
  const reply = (message: WriterToOverlay) => {
    for (const listener of replyListeners) listener(message);
  };
  /** What the writer answers (on the runtime port, as the real one does). */
  const answer = (message: OverlayToWriter) => {
    if (message.op === 'reclaim') reply({ op: 'reclaimed', peer: message.peer, files: [] });
    if (message.op === 'adopt') reply({ op: 'adopted', key: message.key, written: 3 * 1024 * 1024 });
    if (message.op === 'estimate') reply({ op: 'estimate', free: 1024 ** 3 });
  };
  vi.stubGlobal('chrome', {
    runtime: {
      sendMessage: async () => ({ ok: true }),
      connect: () => ({
        onMessage: { addListener: (listener: Listener<WriterToOverlay>) => replyListeners.push(listener) },
        onDisconnect: { addListener: () => {} },
        postMessage(message: OverlayToWriter) {
          onPort.push(message);
          if (message.op === 'bind') bindToken = message.token;
          else answer(message);
        },
        disconnect() {},
      }),
    },
  });
  vi.stubGlobal('navigator', {
    serviceWorker: {
      ready: Promise.resolve({
        active: {
          postMessage(data: { token: string }, [port]: [MessagePort]) {
            expect(data.token).toBeTypeOf('string');
            channel = port;
          },
        },
      }),
    },
  });
  return {
    onPort,
    onChannel,
    /** The overlay asked for its channel: the port, and the token on the runtime port. */
    asked: () => vi.waitFor(() => expect(channel && bindToken).toBeTruthy()),
    /** The writer binds the channel (as the offscreen document does once it has port and token). */
    bind() {
      channel!.onmessage = (event: MessageEvent<OverlayToWriter>) => {
        onChannel.push(event.data);
        answer(event.data);
      };
      channel!.postMessage({ op: 'bound' } satisfies WriterToOverlay);
    },
    close() {
      channel?.close();
    },
  };
}

const callbacks = { onWritten() {}, onError() {} };

describe('OffscreenSinkFactory', () => {
  let writer: ReturnType<typeof fakeWriter> | null = null;
  afterEach(() => {
    writer?.close();
    vi.unstubAllGlobals();
  });

  it('sends what is asked while its direct channel is being set up once the channel is up (an adopt was dropped: the file stayed "Starting…")', async () => {
    writer = fakeWriter();
    const factory = new OffscreenSinkFactory();
    // A re-mounted overlay: its OutgoingFiles reclaims kept Files (this connects), and an
    // offer sent again arrives before the channel is up: the file asks to adopt its kept part.
    const reclaimed = factory.reclaim('peer-1');
    await writer.asked();
    const adopted = factory.adopt('file-000001', 'movie.bin', '', callbacks);
    const free = factory.freeBytes();
    writer.bind();
    // Everything goes on the direct channel, in the order asked; only the bind on the port.
    await vi.waitFor(() =>
      expect(writer!.onChannel.map((m) => m.op)).toEqual(['reclaim', 'adopt', 'estimate']),
    );
    expect(writer.onPort.map((m) => m.op)).toEqual(['bind']);
    await expect(reclaimed).resolves.toEqual([]);
    const sink = await adopted;
    expect(sink?.written).toBe(3 * 1024 * 1024);
    await expect(free).resolves.toBe(1024 ** 3);
  });

  it("sends a received file's chunks on the direct channel, their buffers handed over (not copied), and none on the runtime port", async () => {
    writer = fakeWriter();
    const factory = new OffscreenSinkFactory();
    const creating = factory.create('file-000002', 'data.bin', '', callbacks);
    await writer.asked();
    writer.bind();
    const sink = await creating;
    // As the receiver writes them: each chunk a view of its own frame's buffer.
    const chunks = [1, 2, 3].map((n) => new Uint8Array(1024 * 1024).fill(n));
    for (const chunk of chunks) sink.write(chunk);
    sink.flush?.();
    await vi.waitFor(() => {
      const writes = writer!.onChannel.filter((m) => m.op === 'write');
      const bytes = writes.flatMap((m) => m.chunks).reduce((sum, c) => sum + c.byteLength, 0);
      expect(bytes).toBe(3 * 1024 * 1024);
    });
    const arrived = writer.onChannel.flatMap((m) => (m.op === 'write' ? m.chunks : []));
    expect(arrived.map((c) => c[0])).toEqual([1, 2, 3]);
    // Transferred: this side's buffers are detached, nothing was copied.
    expect(chunks.map((c) => c.buffer.byteLength)).toEqual([0, 0, 0]);
    expect(writer.onPort.map((m) => m.op)).toEqual(['bind']);
  });
});
