/** The setup watchdog on a fake connection, with a fake clock. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NO_CONNECTION_NOTICE, SetupWatchdog, STILL_CONNECTING_NOTICE } from './watchdog.ts';

function watched(polite: boolean) {
  const pc = {
    signalingState: 'stable',
    remoteDescription: { type: 'answer', sdp: '' },
    connectionState: 'connecting',
    restarts: 0,
    restartIce() {
      this.restarts++;
    },
  };
  const notices: string[] = [];
  let done = false;
  const dog = new SetupWatchdog(
    {
      pc: pc as unknown as RTCPeerConnection,
      done: () => done,
      polite: () => polite,
      notice: (m) => notices.push(m),
      relayOnly: () => false,
    },
    1000,
  );
  return { pc, notices, dog, finish: () => (done = true) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SetupWatchdog', () => {
  it('restarts ICE on a negotiated connection that does not connect, twice, then says why', async () => {
    vi.useFakeTimers();
    const { pc, notices, dog } = watched(false);
    dog.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(pc.restarts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(pc.restarts).toBe(1);
    expect(notices).toEqual([STILL_CONNECTING_NOTICE]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(pc.restarts).toBe(2);
    expect(notices).toEqual([STILL_CONNECTING_NOTICE, STILL_CONNECTING_NOTICE, NO_CONNECTION_NOTICE]);
  });

  it('the polite side waits half as long again, so the two sides rarely restart together', async () => {
    vi.useFakeTimers();
    const { pc, dog } = watched(true);
    dog.start();
    await vi.advanceTimersByTimeAsync(1499);
    expect(pc.restarts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(pc.restarts).toBe(1);
  });

  it('waits while signaling is not complete, and stops once the connection is done', async () => {
    vi.useFakeTimers();
    const { pc, dog, finish } = watched(false);
    pc.signalingState = 'have-local-offer';
    dog.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect(pc.restarts).toBe(0);
    pc.signalingState = 'stable';
    finish();
    await vi.advanceTimersByTimeAsync(3000);
    expect(pc.restarts).toBe(0);
  });
});
