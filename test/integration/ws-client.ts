/**
 * A real `ws` client for integration tests, with a queue of received messages so a test can
 * wait for "the next message of this kind" and check what else arrived.
 */
import { once } from 'node:events';
import WebSocket from 'ws';

export const PEER_A = 'AAAAAAAAAAAAAAAAAAAAAA';

// biome-ignore lint/suspicious/noExplicitAny: test messages are inspected loosely on purpose
export type Msg = Record<string, any>;

export function wsUrl(httpUrl: string): string {
  return `${httpUrl.replace(/^http/, 'ws')}/ws`;
}

/** A fresh 128-bit room id, base64url, like the extension makes. */
export function newRoom(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}

export interface Closed {
  code: number;
  reason: string;
}

export class TestClient {
  readonly received: Msg[] = [];
  readonly closed: Promise<Closed>;
  private cursor = 0;
  private wake: (() => void) | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.received.push(isBinary ? { binary: true } : (JSON.parse(data.toString()) as Msg));
      this.wake?.();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake?.();
      });
    });
    ws.on('error', () => {});
  }

  static async open(httpUrl: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(wsUrl(httpUrl), options);
    const client = new TestClient(ws);
    await once(ws, 'open');
    return client;
  }

  /** Opens a client and joins `room`; resolves with the `joined` message. */
  static async joined(httpUrl: string, room: string, options: WebSocket.ClientOptions = {}) {
    const client = await TestClient.open(httpUrl, options);
    client.send({ v: 1, type: 'join', room });
    const joined = await client.next('joined');
    return { client, joined };
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** The next not-yet-consumed message (of `type`, if given), skipping others. */
  async next(type?: string, timeoutMs = 5000): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const msg = this.received[this.cursor++]!;
        if (type === undefined || msg.type === type) return msg;
      }
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${type}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no ${type ?? 'message'} within ${timeoutMs} ms; got ${JSON.stringify(this.received)}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /**
   * Round-trips a ping and returns every message that arrived before the pong. The server
   * handles one connection's frames in order, so anything it sent us earlier is in there.
   */
  async drain(): Promise<Msg[]> {
    const start = this.cursor;
    this.send({ v: 1, type: 'ping' });
    await this.next('pong');
    return this.received.slice(start, this.cursor - 1).filter((m) => m.type !== 'pong');
  }

  close(): void {
    this.ws.close();
  }
}
