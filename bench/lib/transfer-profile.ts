/**
 * PROFILE=1 for `bench:transfer`: V8 CPU profiles (CDP Profiler domain, sampling) of the
 * main threads that take part in one Parley transfer (the sender page, the receiving page or
 * overlay frame, the offscreen document), summarised as self time per function.
 */
import type { CDPSession, Frame, Page } from 'playwright-core';
import WebSocket from 'ws';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Something that speaks CDP: a Playwright session or a raw DevTools socket. */
interface Cdp {
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

function fromSession(session: CDPSession): Cdp {
  return {
    send: (method, params) => session.send(method as never, params as never) as Promise<unknown>,
    close: () => session.detach().catch(() => {}),
  };
}

/** A DevTools target by its webSocketDebuggerUrl (the offscreen document is not a Playwright page). */
async function fromSocket(url: string): Promise<Cdp> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: async () => socket.close(),
  };
}

export interface Profiler {
  stopAndPrint(): Promise<void>;
}

export type ProfileTarget = { name: string } & ({ target: Page | Frame } | { webSocketDebuggerUrl: string });

export async function startProfiles(targets: ProfileTarget[]): Promise<Profiler> {
  const running: { name: string; cdp: Cdp }[] = [];
  for (const t of targets) {
    const cdp =
      'target' in t
        ? fromSession(
            await ('page' in t.target ? t.target.page() : t.target).context().newCDPSession(t.target),
          )
        : await fromSocket(t.webSocketDebuggerUrl);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
    await cdp.send('Profiler.start');
    running.push({ name: t.name, cdp });
  }
  return {
    async stopAndPrint() {
      for (const { name, cdp } of running) {
        const { profile } = (await cdp.send('Profiler.stop')) as { profile: CpuProfile };
        await cdp.close();
        console.log(summarise(name, profile));
      }
    },
  };
}

/** Self time per function (name, file, line), the top 15, and the share of the thread that was busy. */
export function summarise(name: string, profile: CpuProfile): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i += 1) {
    const node = byId.get(profile.samples[i]!)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = url
      ? `${functionName || '(anonymous)'} ${url.replace(/^.*\//, '').replace(/\?.*$/, '')}:${lineNumber + 1}`
      : functionName;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const total = profile.endTime - profile.startTime;
  const idle = self.get('(idle)') ?? 0;
  const lines = [...self]
    .filter(([key]) => key !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(
      ([key, us]) =>
        `    ${(us / 1000).toFixed(0).padStart(6)} ms ${((us / total) * 100).toFixed(1).padStart(5)}%  ${key}`,
    );
  return [
    `  ${name}: ${(total / 1e6).toFixed(1)} s profiled, busy ${(((total - idle) / total) * 100).toFixed(0)}% (self time):`,
    ...lines,
  ].join('\n');
}
