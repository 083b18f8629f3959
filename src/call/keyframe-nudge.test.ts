import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { NUDGE_GAP_MS, nudgeKeyframe, watchPathChanges } from './keyframe-nudge.ts';

/** A sender whose parameters carry a transaction id, as Chromium's: a stale write fails. */
function fakeSender(options: { failOn?: number[] } = {}) {
  let params = { transactionId: '0', encodings: [{ active: true, maxBitrate: 500_000 }] };
  let tx = 0;
  let calls = 0;
  const written: boolean[] = [];
  const sender = {
    track: { kind: 'video', readyState: 'live' },
    getParameters: () => {
      tx++;
      return structuredClone({ ...params, transactionId: String(tx) });
    },
    setParameters: async (next: typeof params) => {
      calls++;
      if (options.failOn?.includes(calls) || next.transactionId !== String(tx))
        throw new DOMException('stale', 'InvalidModificationError');
      params = structuredClone(next);
      written.push(next.encodings.every((e) => e.active));
    },
  };
  return { sender: sender as unknown as RTCRtpSender, written, params: () => params };
}

describe('nudgeKeyframe', () => {
  test('switches the encoding off and on again, keeping the rest of its parameters', async () => {
    const { sender, written, params } = fakeSender();
    await nudgeKeyframe(sender);
    expect(written).toEqual([false, true]);
    expect(params().encodings).toEqual([{ active: true, maxBitrate: 500_000 }]);
  });

  test('a failed switch back on is tried again: the encoding is never left off', async () => {
    const { sender, written, params } = fakeSender({ failOn: [2, 3] });
    await nudgeKeyframe(sender);
    expect(written).toEqual([false, true]);
    expect(params().encodings[0]?.active).toBe(true);
  });

  test('someone writing the parameters between the two steps does not leave it off', async () => {
    const { sender, params } = fakeSender();
    const nudged = nudgeKeyframe(sender);
    // The uplink budget reads (sees it off) and writes while the nudge waits.
    const theirs = sender.getParameters();
    theirs.encodings[0] = { ...theirs.encodings[0], maxBitrate: 300_000 };
    await sender.setParameters(theirs).catch(() => {});
    await nudged;
    expect(params().encodings[0]).toEqual({ active: true, maxBitrate: 300_000 });
  });

  test('a sender without a live track, or switched off by someone else, is left alone', async () => {
    const stopped = fakeSender();
    (stopped.sender as unknown as { track: { readyState: string } }).track.readyState = 'ended';
    await nudgeKeyframe(stopped.sender);
    expect(stopped.written).toEqual([]);
  });
});

describe('watchPathChanges', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function fakeConnection() {
    const transport = new EventTarget() as EventTarget & { onselectedcandidatepairchange: null };
    transport.onselectedcandidatepairchange = null;
    const pc = { getSenders: () => [{ transport: { iceTransport: transport } }] };
    const change = () => transport.dispatchEvent(new Event('selectedcandidatepairchange'));
    return { pc: pc as unknown as RTCPeerConnection, change };
  }

  test('a path change nudges at once; a burst of them gets one more nudge at the end of the gap', () => {
    const { pc, change } = fakeConnection();
    const nudge = vi.fn();
    const stop = watchPathChanges(pc, nudge);
    change();
    expect(nudge).toHaveBeenCalledTimes(1);
    change();
    change();
    expect(nudge).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(NUDGE_GAP_MS);
    expect(nudge).toHaveBeenCalledTimes(2);
    stop();
    change();
    vi.advanceTimersByTime(NUDGE_GAP_MS);
    expect(nudge).toHaveBeenCalledTimes(2);
  });

  test('without an ICE transport to watch, nothing happens', () => {
    const pc = { getSenders: () => [], sctp: null } as unknown as RTCPeerConnection;
    expect(() => watchPathChanges(pc, () => {})()).not.toThrow();
  });
});
