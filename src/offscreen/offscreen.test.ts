/**
 * The offscreen writer's side of an overlay's direct channel (writer-protocol.ts,
 * WRITER_CHANNEL): the service worker hands it a MessagePort with a token, the overlay names
 * the token on its runtime port (`bind`), in either order, and the writer answers `bound` on
 * the channel. chrome.runtime, the service worker container and the OPFS worker are faked; the
 * channels are real MessageChannels.
 */
import { MessageChannel, type MessagePort as NodeMessagePort } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WRITER_CHANNEL, WRITER_PORT_NAME } from './writer-protocol.ts';

type Listener = (value: unknown) => void;

let fromServiceWorker: (event: { data: unknown; ports: readonly unknown[] }) => void = () => {};
let connectListener: (port: unknown) => void = () => {};
let pairingMs = 0;

beforeAll(async () => {
  vi.stubGlobal('chrome', {
    runtime: {
      id: 'parley-test',
      onConnect: { addListener: (listener: (port: unknown) => void) => (connectListener = listener) },
    },
  });
  vi.stubGlobal('navigator', {
    storage: { getDirectory: async () => ({ removeEntry: async () => {} }) },
    locks: { request: () => new Promise(() => {}) },
    serviceWorker: {
      addEventListener: (_type: string, listener: typeof fromServiceWorker) => (fromServiceWorker = listener),
      startMessages() {},
    },
  });
  vi.stubGlobal(
    'Worker',
    class {
      onmessage = null;
      postMessage() {}
    },
  );
  pairingMs = (await import('./offscreen.ts')).CHANNEL_PAIRING_MS;
});

afterAll(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** An overlay's runtime port to the writer: what the overlay posts on it goes to the writer. */
function overlayPort() {
  const listeners: Listener[] = [];
  connectListener({
    name: WRITER_PORT_NAME,
    sender: { id: 'parley-test' },
    onMessage: { addListener: (listener: Listener) => listeners.push(listener) },
    onDisconnect: { addListener() {} },
    postMessage() {},
  });
  return {
    post(message: unknown) {
      for (const listener of listeners) listener(message);
    },
  };
}

/** The service worker hands the writer a channel's end for `token`; we keep the overlay's end. */
function handOver(token: string): NodeMessagePort {
  const { port1, port2 } = new MessageChannel();
  fromServiceWorker({ data: { parley: WRITER_CHANNEL, token }, ports: [port2] });
  return port1;
}

const answer = (port: NodeMessagePort) => new Promise((resolve) => port.once('message', resolve));

describe('offscreen writer: direct channels', () => {
  it('binds a channel to the overlay that names its token, whichever comes first', async () => {
    const first = handOver('token-channel-first');
    overlayPort().post({ op: 'bind', token: 'token-channel-first' });
    await expect(answer(first)).resolves.toEqual({ op: 'bound' });

    const port = overlayPort();
    port.post({ op: 'bind', token: 'token-bind-first' });
    const second = handOver('token-bind-first');
    await expect(answer(second)).resolves.toEqual({ op: 'bound' });
    first.close();
    second.close();
  });

  it('closes and forgets a channel whose overlay never binds it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const orphan = handOver('token-never-bound');
    const closed = new Promise((resolve) => orphan.once('close', () => resolve('closed')));
    vi.advanceTimersByTime(pairingMs);
    vi.useRealTimers();
    await expect(closed).resolves.toBe('closed');
  });
});
