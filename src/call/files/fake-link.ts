/**
 * An in-memory pair of DataLinks for tests of the file engine in Node: messages are delivered
 * asynchronously in order, and `bufferedAmount` / `bufferedamountlow` behave like
 * RTCDataChannel's (the queue drains as the peer receives).
 */
import type { DataLink } from '../data-link.ts';

class FakeChannel extends EventTarget {
  peer: FakeChannel | null = null;
  readyState: RTCDataChannelState = 'open';
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  binaryType: BinaryType = 'arraybuffer';
  /** Every binary frame sent, for assertions. */
  readonly sentFrames: ArrayBuffer[] = [];
  maxBuffered = 0;

  constructor(readonly label: string) {
    super();
  }

  send(data: string | ArrayBuffer): void {
    if (this.readyState !== 'open') throw new Error('InvalidStateError');
    const size = typeof data === 'string' ? data.length : data.byteLength;
    if (this.bufferedAmount + size > 16 * 1024 * 1024) throw new Error('send queue is full');
    if (typeof data !== 'string') this.sentFrames.push(data);
    this.bufferedAmount += size;
    this.maxBuffered = Math.max(this.maxBuffered, this.bufferedAmount);
    const peer = this.peer!;
    setImmediate(() => {
      const before = this.bufferedAmount;
      this.bufferedAmount -= size;
      if (
        before > this.bufferedAmountLowThreshold &&
        this.bufferedAmount <= this.bufferedAmountLowThreshold
      ) {
        this.dispatchEvent(new Event('bufferedamountlow'));
      }
      if (peer.readyState === 'open') peer.dispatchEvent(new MessageEvent('message', { data }));
    });
  }

  close(): void {
    for (const channel of [this, this.peer!]) {
      if (channel.readyState === 'closed') continue;
      channel.readyState = 'closed';
      setImmediate(() => channel.dispatchEvent(new Event('close')));
    }
  }
}

export interface FakeLinkPair {
  a: DataLink & { control: FakeChannel; files: FakeChannel };
  b: DataLink & { control: FakeChannel; files: FakeChannel };
  /** Inject raw data as if `a` had sent it to `b` (hostile-peer tests). */
  close(): void;
}

export function fakeLinkPair(maxMessageSize = 256 * 1024): FakeLinkPair {
  const controlA = new FakeChannel('control');
  const controlB = new FakeChannel('control');
  const filesA = new FakeChannel('files');
  const filesB = new FakeChannel('files');
  controlA.peer = controlB;
  controlB.peer = controlA;
  filesA.peer = filesB;
  filesB.peer = filesA;
  const link = (peerId: string, name: string, control: FakeChannel, files: FakeChannel) => ({
    peerId,
    control,
    files,
    maxMessageSize,
    remoteName: () => name,
  });
  const a = link('peer-b', 'Bo', controlA, filesA);
  const b = link('peer-a', 'Ana', controlB, filesB);
  return {
    a: a as unknown as FakeLinkPair['a'],
    b: b as unknown as FakeLinkPair['b'],
    close() {
      controlA.close();
      filesA.close();
    },
  };
}
