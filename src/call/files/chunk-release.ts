/**
 * Frees a received chunk's bytes as soon as the OPFS writer worker has written and hashed them,
 * instead of at the worker's next garbage collection.
 *
 * A chunk arrives in the worker as a transferred ArrayBuffer, held by Blink's own object behind
 * the JavaScript one. Left as garbage it waits for a full collection, which V8 starts only once
 * its external memory has grown by about 64 MB and finishes later still: the worker held
 * 100-130 MiB of written chunks while receiving 1 GiB at 20-25 MB/s. Detaching it
 * (`ArrayBuffer.prototype.transfer(0)`) frees nothing: Blink's object still holds the bytes
 * while V8 stops counting them, so no collection ever comes (tried, see docs/performance.md).
 * What does free them is transferring the buffer in a message that is then dropped: the
 * transfer moves the bytes out of Blink's object into the message, and dropping the message
 * frees them. A worker terminated before it ever ran drops every message posted to it (the
 * HTML standard's `postMessage` serializes with transfer first, then finds no port to deliver
 * to). Where an engine does not transfer in that case, the buffer simply stays garbage, as before.
 */

export type Release = (buffer: ArrayBuffer) => void;

interface MessageSink {
  postMessage(message: unknown, transfer: Transferable[]): void;
}

/** Posts each buffer, transferred, to `sink` (which drops it); never throws. */
export function releaseInto(sink: MessageSink | null): Release {
  return (buffer) => {
    if (!sink || buffer.byteLength === 0) return;
    try {
      sink.postMessage(null, [buffer]);
    } catch {
      // Not transferable (already detached, shared): it stays garbage.
    }
  };
}

/**
 * A releaser whose sink is a worker terminated at once (`scriptUrl`: any script this context
 * may start as a worker, e.g. the calling worker's own: it never runs).
 */
export function terminatedWorkerRelease(scriptUrl: string): Release {
  let sink: Worker | null = null;
  try {
    sink = new Worker(scriptUrl, { type: 'module', name: 'parley-chunk-release' });
    sink.terminate();
  } catch {
    sink = null;
  }
  return releaseInto(sink);
}
