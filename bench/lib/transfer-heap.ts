/**
 * V8 heaps of the receiving side during `bench:transfer`'s memory run: `Runtime.getHeapUsage`
 * (the JavaScript heap in use, and the backing stores of its ArrayBuffers, which is where
 * received chunks live until collected) of a document's isolate and, attached automatically,
 * of each of its dedicated workers (the OPFS writer). The isolate is the thread's: the
 * offscreen document's figures include the overlay frame, which shares its renderer's main
 * thread.
 */
import WebSocket from 'ws';

interface HeapUsage {
  usedSize: number;
  backingStorageSize?: number;
}

export interface HeapFigures {
  /** At the first sample. */
  first: { used: number; backing: number };
  /** The largest over the run (each on its own). */
  peak: { used: number; backing: number };
}

export interface HeapWatch {
  /** A full garbage collection in the document's isolate and each worker's (before the baseline). */
  collectGarbage(): Promise<void>;
  sample(): Promise<void>;
  /** Per isolate: `name` for the document, `name worker <title>` for each worker. */
  figures: Map<string, HeapFigures>;
  close(): void;
}

/** Watches the document at `webSocketDebuggerUrl` (a DevTools page target) and its workers. */
export async function watchHeaps(webSocketDebuggerUrl: string, name: string): Promise<HeapWatch> {
  const socket = new WebSocket(webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  /** Worker sessions: sessionId → name. */
  const sessions = new Map<string, string>();
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as {
      id?: number;
      method?: string;
      params?: { sessionId?: string; targetInfo?: { type: string; title: string; url: string } };
      result?: unknown;
      error?: { message: string };
    };
    if (message.method === 'Target.attachedToTarget' && message.params?.sessionId) {
      const info = message.params.targetInfo;
      const title = info?.title || info?.url.replace(/^.*\//, '') || message.params.sessionId;
      sessions.set(message.params.sessionId, `${name} worker ${title}`);
      return;
    }
    if (message.method === 'Target.detachedFromTarget' && message.params?.sessionId) {
      sessions.delete(message.params.sessionId);
      return;
    }
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  await send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: true });
  const figures = new Map<string, HeapFigures>();
  const record = (label: string, usage: HeapUsage) => {
    const now = { used: usage.usedSize, backing: usage.backingStorageSize ?? 0 };
    const known = figures.get(label);
    if (!known) {
      figures.set(label, { first: now, peak: { ...now } });
      return;
    }
    known.peak.used = Math.max(known.peak.used, now.used);
    known.peak.backing = Math.max(known.peak.backing, now.backing);
  };
  return {
    figures,
    async collectGarbage() {
      await send('HeapProfiler.collectGarbage');
      for (const sessionId of [...sessions.keys()])
        await send('HeapProfiler.collectGarbage', {}, sessionId).catch(() => {});
    },
    async sample() {
      record(name, (await send('Runtime.getHeapUsage')) as HeapUsage);
      for (const [sessionId, label] of [...sessions]) {
        const usage = await send('Runtime.getHeapUsage', {}, sessionId).catch(() => null);
        if (usage) record(label, usage as HeapUsage);
      }
    },
    close() {
      socket.close();
    },
  };
}
