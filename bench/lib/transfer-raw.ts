/**
 * The raw baseline of `bench:transfer`: a bare send loop of 64 KiB ArrayBuffers over one
 * negotiated data channel added to the call's own RTCPeerConnection on both sides, so the raw
 * loop and Parley share the same two profiles, the same DTLS/SCTP association and the same
 * audio running alongside.
 *
 * Made trustworthy (issue 14):
 *  - the receiver's channel and its message handler exist before the sender's channel does
 *    (a negotiated channel opens only once both sides created it, so nothing can arrive
 *    before the handler);
 *  - the channel id is chosen among ids neither side has used (every channel the pages
 *    create or receive is recorded by RECORD_CHANNELS) and checked again after creation;
 *  - a deadline: a run that does not finish fails with what each side saw, never hangs.
 */
/**
 * A page or a frame (the extension overlay is an iframe): what the bench needs of it.
 * Playwright's pages and frames (Chromium) are this as they are; a Puppeteer page or frame
 * (Firefox) gets it from `fromPuppeteer` in bench/lib/transfer-steps.ts.
 */
export interface Target {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  evaluate<R>(fn: () => R | Promise<R>): Promise<R>;
  waitForFunction<A>(
    fn: (arg: A) => unknown,
    arg: A,
    options?: { timeout?: number; polling?: number },
  ): Promise<unknown>;
}

/**
 * Init script: records every RTCPeerConnection that creates or receives a data channel, with
 * its channels, on globalThis.__benchPcs. The call's connection is the connected one with a
 * 'files' channel (the guest page also makes a short-lived warm-up connection, and everyone in
 * a call with room prepares one for the next person, which never connects here).
 * Where it can only be run after the page made its connections (Firefox's extension overlay:
 * WebDriver BiDi preload scripts do not reach moz-extension frames), a connection is recorded
 * when it next negotiates, marked `late` (its earlier channels are unknown); the call's is
 * then the connected late one.
 */
export const RECORD_CHANNELS = `(() => {
  if (globalThis.__benchPcs || typeof RTCPeerConnection === 'undefined') return;
  const pcs = (globalThis.__benchPcs = []);
  const entryFor = (pc, late) => {
    let entry = pcs.find((e) => e.pc === pc);
    if (!entry) {
      entry = { pc, channels: [], late };
      pcs.push(entry);
      pc.addEventListener('datachannel', (event) => entry.channels.push(event.channel));
    }
    return entry;
  };
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (label, init) {
    const channel = create.call(this, label, init);
    entryFor(this, false).channels.push(channel);
    return channel;
  };
  for (const name of ['setLocalDescription', 'setRemoteDescription', 'addIceCandidate']) {
    const original = RTCPeerConnection.prototype[name];
    RTCPeerConnection.prototype[name] = function (...args) {
      entryFor(this, true);
      return original.apply(this, args);
    };
  }
})();`;

/** Page-side: the call's connection among the recorded ones (see RECORD_CHANNELS). */
type Entry = { pc: RTCPeerConnection; channels: RTCDataChannel[]; late: boolean };

/** Stream ids of every channel ever created or received on the call's connection. */
export async function usedChannelIds(target: Target): Promise<number[]> {
  return target.evaluate(() => {
    const pcs = (globalThis as { __benchPcs?: Entry[] }).__benchPcs;
    if (!pcs) throw new Error('The channel recorder (RECORD_CHANNELS) is not installed in this page.');
    const files = pcs.filter((e) => e.channels.some((c) => c.label === 'files'));
    // No named inner functions: tsx would wrap them in a helper the page may lack.
    const call =
      files.filter((e) => e.pc.connectionState === 'connected').at(-1) ??
      pcs.filter((e) => e.late && e.pc.connectionState === 'connected').at(-1) ??
      files.at(-1);
    if (!call) throw new Error('No call connection (with a "files" channel) in this page.');
    return call.channels.map((c) => c.id).filter((id): id is number => id !== null);
  });
}

/** The lowest id ≥ `from` that neither side has used. */
export function freeChannelId(used: Iterable<number>, from: number): number {
  const taken = new Set(used);
  let id = from;
  while (taken.has(id)) id += 1;
  return id;
}

interface RawState {
  received: number;
  sent: number;
  startedAt: number;
  endedAt: number;
  channelState: string;
  error: string | null;
}

/** Create the negotiated raw channel on the call's connection (ids are checked in the page). */
async function openRaw(
  target: Target,
  id: number,
  role: 'receiver' | 'sender',
  bytes: number,
  chunk: number,
) {
  await target.evaluate(
    ({ id, role, bytes, chunk }) => {
      const pcs = (globalThis as { __benchPcs?: Entry[] }).__benchPcs ?? [];
      const files = pcs.filter((e) => e.channels.some((c) => c.label === 'files'));
      // No named inner functions: tsx would wrap them in a helper the page may lack.
      const call =
        files.filter((e) => e.pc.connectionState === 'connected').at(-1) ??
        pcs.filter((e) => e.late && e.pc.connectionState === 'connected').at(-1) ??
        files.at(-1);
      if (!call) throw new Error('No call connection in this page.');
      if (call.channels.some((c) => c.id === id && c.readyState !== 'closed'))
        throw new Error(`Channel id ${id} is already used by the call.`);
      const channel = call.pc.createDataChannel(`bench-raw-${id}`, { negotiated: true, id, ordered: true });
      channel.binaryType = 'arraybuffer';
      const state = {
        received: 0,
        sent: 0,
        startedAt: 0,
        endedAt: 0,
        channelState: channel.readyState as string,
        error: null as string | null,
      };
      const g = globalThis as unknown as { rawChannel: RTCDataChannel; rawState: typeof state };
      g.rawChannel = channel;
      g.rawState = state;
      channel.onclose = () => {
        state.channelState = 'closed';
      };
      channel.onerror = (event) => {
        state.error = String((event as RTCErrorEvent).error?.message ?? 'error');
      };
      if (role === 'receiver') {
        // Ready before the sender's side of the channel exists: nothing can arrive earlier.
        channel.onmessage = (event) => {
          state.received += (event.data as ArrayBuffer).byteLength;
          if (state.received >= bytes && state.endedAt === 0) state.endedAt = Date.now();
        };
        return;
      }
      const pump = () => {
        try {
          while (state.sent < bytes && channel.bufferedAmount < 8 * 1024 * 1024) {
            channel.send(new ArrayBuffer(Math.min(chunk, bytes - state.sent)));
            state.sent += Math.min(chunk, bytes - state.sent);
          }
        } catch (error) {
          state.error = String(error);
        }
      };
      channel.bufferedAmountLowThreshold = 1024 * 1024;
      channel.onbufferedamountlow = pump;
      channel.onopen = () => {
        state.channelState = 'open';
        state.startedAt = Date.now();
        pump();
      };
    },
    { id, role, bytes, chunk },
  );
}

function readState(target: Target): Promise<RawState | null> {
  return target
    .evaluate(() => {
      const g = globalThis as unknown as { rawState?: RawState; rawChannel?: RTCDataChannel };
      if (!g.rawState || !g.rawChannel) return null;
      return { ...g.rawState, channelState: g.rawChannel.readyState };
    })
    .catch(() => null);
}

/** Close the raw channel on both sides and wait until both see it closed (its id is free again). */
async function closeRaw(sender: Target, receiver: Target): Promise<void> {
  for (const target of [sender, receiver]) {
    await target
      .evaluate(() => (globalThis as unknown as { rawChannel?: RTCDataChannel }).rawChannel?.close())
      .catch(() => {});
  }
  for (const target of [sender, receiver]) {
    await target
      .waitForFunction(
        () => (globalThis as unknown as { rawChannel?: RTCDataChannel }).rawChannel?.readyState !== 'closing',
        undefined,
        { timeout: 10_000 },
      )
      .catch(() => {});
  }
}

/**
 * One raw run: `bytes` from `sender` to `receiver` on a fresh negotiated channel. MB/s from
 * the sender's channel opening (its first send) to the receiver's last byte (both Date.now()
 * on this machine's clock). Throws, with what each side saw, after `timeoutMs`.
 */
export async function rawThroughput(
  sender: Target,
  receiver: Target,
  bytes: number,
  options: {
    from: number;
    timeoutMs: number;
    label: string;
    /** Bytes per message (default 64 KiB). */
    chunkBytes?: number;
  },
): Promise<{ mbPerS: number; id: number }> {
  const used = [...(await usedChannelIds(sender)), ...(await usedChannelIds(receiver))];
  const id = freeChannelId(used, options.from);
  const chunk = options.chunkBytes ?? 64 * 1024;
  await openRaw(receiver, id, 'receiver', bytes, chunk);
  await openRaw(sender, id, 'sender', bytes, chunk);
  try {
    await receiver.waitForFunction(
      (bytes) => ((globalThis as unknown as { rawState: RawState }).rawState.received ?? 0) >= bytes,
      bytes,
      { timeout: options.timeoutMs, polling: 50 },
    );
  } catch {
    const [s, r] = await Promise.all([readState(sender), readState(receiver)]);
    throw new Error(
      `${options.label}: the raw loop did not finish within ${options.timeoutMs / 1000} s on channel id ${id}: ` +
        `the sender sent ${s?.sent ?? '?'} of ${bytes} bytes (channel ${s?.channelState ?? '?'}${s?.error ? `, ${s.error}` : ''}), ` +
        `the receiver got ${r?.received ?? '?'} (channel ${r?.channelState ?? '?'}${r?.error ? `, ${r.error}` : ''}).`,
    );
  }
  const [s, r] = await Promise.all([readState(sender), readState(receiver)]);
  await closeRaw(sender, receiver);
  if (!s || !r || s.startedAt === 0 || r.endedAt === 0)
    throw new Error(`${options.label}: the raw loop finished without its timestamps.`);
  return { mbPerS: r.received / ((r.endedAt - s.startedAt) / 1000) / 1e6, id };
}
