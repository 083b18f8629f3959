/**
 * A WebSocket stand-in for unit tests of the signaling client (src/call/signaling-client.ts):
 * records what the client sends, and lets the test open, answer and drop it.
 */
import type { WebSocketLike } from '../../src/call/signaling-client.ts';

export class FakeWebSocket implements WebSocketLike {
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  closedWith: number | null = null;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send() on a socket that is not open');
    this.sent.push(JSON.parse(data));
  }
  close(code = 1005): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  // ---------- the test's side ----------
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(message: unknown): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }
  /** The server or the network closed it. */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
  types(): unknown[] {
    return this.sent.map((m) => m.type);
  }
}

/** A `connect` for SignalingClient that records every socket it opens. */
export function fakeConnect(): { sockets: FakeWebSocket[]; connect: (url: string) => FakeWebSocket } {
  const sockets: FakeWebSocket[] = [];
  return {
    sockets,
    connect: (url) => {
      const socket = new FakeWebSocket(url);
      sockets.push(socket);
      return socket;
    },
  };
}
