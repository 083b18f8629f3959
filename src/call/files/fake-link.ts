/**
 * An in-memory pair of DataLinks for tests of the file engine in Node: messages are delivered
 * asynchronously in order, and `bufferedAmount` / `bufferedamountlow` behave like
 * RTCDataChannel's (the queue drains as the peer receives).
 */
import type { DataLink } from '../data-link.ts';
import { PeerLink } from '../peer-link.ts';

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

/** The channels of one fake connection, seen from each side. */
export interface FakeConnection {
  a: DataLink & { control: FakeChannel; files: FakeChannel };
  b: DataLink & { control: FakeChannel; files: FakeChannel };
}

export interface FakeLinkPair {
  /** Ana's link to Bo, and Bo's to Ana: PeerLinks as the call engine makes them. */
  linkA: PeerLink;
  linkB: PeerLink;
  /** The current connection's channels ("a" is Ana's side). */
  a: FakeConnection['a'];
  b: FakeConnection['b'];
  /** The connection dies (both links pause, as the engine does when channels close). */
  cut(): void;
  /** A new connection attaches to both links. */
  reconnect(): void;
  /** Both people are gone for good (the links close). */
  close(): void;
}

export function fakeConnection(maxMessageSize: number): FakeConnection {
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
  return {
    a: link('peer-b', 'Bo', controlA, filesA) as unknown as FakeConnection['a'],
    b: link('peer-a', 'Ana', controlB, filesB) as unknown as FakeConnection['b'],
  };
}

export function fakeLinkPair(maxMessageSize = 256 * 1024): FakeLinkPair {
  const linkA = new PeerLink(
    'peer-b',
    () => 'Bo',
    () => {},
  );
  const linkB = new PeerLink(
    'peer-a',
    () => 'Ana',
    () => {},
  );
  const pair = { linkA, linkB } as FakeLinkPair;
  const attach = () => {
    const connection = fakeConnection(maxMessageSize);
    connection.a.control.addEventListener('message', (e) => linkA.deliver((e as MessageEvent).data));
    connection.b.control.addEventListener('message', (e) => linkB.deliver((e as MessageEvent).data));
    pair.a = connection.a;
    pair.b = connection.b;
    linkA.attach(connection.a);
    linkB.attach(connection.b);
  };
  pair.cut = () => {
    pair.a.control.close();
    pair.a.files.close();
    linkA.detach();
    linkB.detach();
  };
  pair.reconnect = attach;
  pair.close = () => {
    pair.cut();
    linkA.close();
    linkB.close();
  };
  attach();
  return pair;
}
