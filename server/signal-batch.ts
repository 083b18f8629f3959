/**
 * Signals between nodes (with `REDIS_URL`), batched: frames for peers on another node are
 * collected per target node and go out as one PUBLISH on that node's channel, so the sending
 * node, Redis and the receiving node pay their per-command and per-wake-up costs once per
 * batch, not once per message.
 *
 * A batch is a run of records, each:
 *
 *   to (peer id, 22 bytes, latin1) | from (the sender's peer id, 22 bytes) | room id length (1) |
 *   room id | frame length (4, BE) | frame
 *
 * The frame is the finished outgoing WebSocket text (relayedSignalFrame's bytes), passed
 * through untouched: no JSON on either side. The sender's id lets the receiving node drop a
 * signal from a peer it has already announced as gone (redis-rooms.ts).
 *
 * Order: records for one target node keep the order they were queued in, a batch goes out
 * before the next one for the same node, and Redis delivers a channel's messages in order, so
 * the messages of two peers keep their order across nodes.
 */

/** Bytes of a record before the room id and after it (two peer ids, lengths). */
const PEER_ID_BYTES = 22;
const ROOM_AT = 2 * PEER_ID_BYTES;
const FIXED_BYTES = ROOM_AT + 1 + 4;

export interface SignalBatcherOptions {
  /**
   * How long the first record of a batch may wait for others: 0 flushes once this turn of the
   * event loop is done (setImmediate), which is what the relay uses.
   */
  windowMs: number;
  /** A batch that would grow past this many bytes is sent first (a larger single record goes alone). */
  maxBytes: number;
  /** Sends one batch: `parts` concatenated, `bytes` long in all. */
  publish(toNode: string, parts: readonly Buffer[], bytes: number): void;
}

interface Pending {
  parts: Buffer[];
  bytes: number;
}

export class SignalBatcher {
  private readonly pending = new Map<string, Pending>();
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly options: SignalBatcherOptions) {}

  /** Queues `frame` from peer `from` for peer `to` of room `room`, on node `toNode`. False once closed. */
  queue(toNode: string, room: string, to: string, from: string, frame: Buffer): boolean {
    if (this.closed) return false;
    if (to.length !== PEER_ID_BYTES || from.length !== PEER_ID_BYTES || room.length > 255) {
      throw new Error('signal batch: peer ids are 22 characters and room ids at most 255');
    }
    const size = FIXED_BYTES + room.length + frame.length;
    let p = this.pending.get(toNode);
    if (p !== undefined && p.bytes + size > this.options.maxBytes) {
      this.send(toNode, p);
      p = undefined;
    }
    if (p === undefined) {
      p = { parts: [], bytes: 0 };
      this.pending.set(toNode, p);
    }
    const head = Buffer.allocUnsafe(FIXED_BYTES + room.length);
    head.write(to, 0, 'latin1');
    head.write(from, PEER_ID_BYTES, 'latin1');
    head[ROOM_AT] = room.length;
    head.write(room, ROOM_AT + 1, 'latin1');
    head.writeUInt32BE(frame.length, ROOM_AT + 1 + room.length);
    p.parts.push(head, frame);
    p.bytes += size;
    this.schedule();
    return true;
  }

  /** Sends everything queued now, in order. */
  flush(): void {
    if (this.scheduled !== null) {
      if (this.options.windowMs > 0) clearTimeout(this.scheduled as NodeJS.Timeout);
      else clearImmediate(this.scheduled as NodeJS.Immediate);
      this.scheduled = null;
    }
    for (const [toNode, p] of this.pending) this.send(toNode, p);
  }

  /** Sends what is queued and takes no more. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private send(toNode: string, p: Pending): void {
    this.pending.delete(toNode);
    this.options.publish(toNode, p.parts, p.bytes);
  }

  /**
   * Made once, not per batch: a closure per schedule() was one more allocation per batch, and
   * under tsx (how the server runs) one more call of its `__name` helper, seen in CPU profiles.
   */
  private readonly run = (): void => {
    this.scheduled = null;
    this.flush();
  };

  private schedule(): void {
    if (this.scheduled !== null) return;
    this.scheduled =
      this.options.windowMs > 0 ? setTimeout(this.run, this.options.windowMs) : setImmediate(this.run);
  }
}

/**
 * Calls `each` for every record of a batch, in order (the frame is a view into `batch`). A
 * truncated record at the end is ignored; records come from our own nodes only.
 */
export function decodeBatch(
  batch: Buffer,
  each: (to: string, from: string, room: string, frame: Buffer) => void,
): void {
  let o = 0;
  while (o + FIXED_BYTES <= batch.length) {
    const to = batch.toString('latin1', o, o + PEER_ID_BYTES);
    const from = batch.toString('latin1', o + PEER_ID_BYTES, o + ROOM_AT);
    const roomLength = batch[o + ROOM_AT]!;
    const roomEnd = o + ROOM_AT + 1 + roomLength;
    if (roomEnd + 4 > batch.length) return;
    const room = batch.toString('latin1', o + ROOM_AT + 1, roomEnd);
    const start = roomEnd + 4;
    const end = start + batch.readUInt32BE(roomEnd);
    if (end > batch.length) return;
    each(to, from, room, batch.subarray(start, end));
    o = end;
  }
}
