import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeQuality, type RawStat, rateQuality, StatsSampler, summarizeStats } from './stats.ts';

function report(opts: {
  rtt?: number;
  received: number;
  lost: number;
  bytesIn: number;
  bytesOut: number;
  level?: number;
}): RawStat[] {
  return [
    { id: 'T1', type: 'transport', selectedCandidatePairId: 'CP1' },
    { id: 'CP0', type: 'candidate-pair', state: 'failed', currentRoundTripTime: 3 },
    {
      id: 'CP1',
      type: 'candidate-pair',
      state: 'succeeded',
      nominated: true,
      currentRoundTripTime: opts.rtt,
    },
    {
      id: 'IA',
      type: 'inbound-rtp',
      kind: 'audio',
      packetsReceived: opts.received / 2,
      packetsLost: opts.lost / 2,
      bytesReceived: opts.bytesIn / 4,
      audioLevel: opts.level,
    },
    {
      id: 'IV',
      type: 'inbound-rtp',
      kind: 'video',
      packetsReceived: opts.received / 2,
      packetsLost: opts.lost / 2,
      bytesReceived: (3 * opts.bytesIn) / 4,
    },
    { id: 'OV', type: 'outbound-rtp', kind: 'video', bytesSent: opts.bytesOut },
  ];
}

describe('connection quality from getStats', () => {
  it('reads the RTT of the selected pair and rates a clean link good', () => {
    const first = summarizeStats(
      report({ rtt: 0.04, received: 1000, lost: 0, bytesIn: 0, bytesOut: 0, level: 0.2 }),
      null,
      0,
    );
    expect(first.rttMs).toBe(40);
    expect(first.quality).toBe('good');
    expect(first.remoteAudioLevel).toBe(0.2);
    expect(describeQuality(first)).toBe('Connection good, 40 ms');
  });

  it('says when our video to them is held back for lack of bandwidth', () => {
    const base = report({ rtt: 0.04, received: 1000, lost: 0, bytesIn: 0, bytesOut: 0 });
    expect(summarizeStats(base, null, 0).bandwidthLimited).toBe(false);
    const limited = base.map((s) => (s.id === 'OV' ? { ...s, qualityLimitationReason: 'bandwidth' } : s));
    expect(summarizeStats(limited, null, 0).bandwidthLimited).toBe(true);
    const cpu = base.map((s) => (s.id === 'OV' ? { ...s, qualityLimitationReason: 'cpu' } : s));
    expect(summarizeStats(cpu, null, 0).bandwidthLimited).toBe(false);
  });

  it('computes loss and bitrates over the interval, not since the start', () => {
    const a = summarizeStats(
      report({ rtt: 0.05, received: 10_000, lost: 0, bytesIn: 0, bytesOut: 0 }),
      null,
      1000,
    );
    // Next second: 90 packets received, 10 lost = 10 %; 125 kB in = 1000 kbit/s; 250 kB out.
    const b = summarizeStats(
      report({ rtt: 0.05, received: 10_090, lost: 10, bytesIn: 125_000, bytesOut: 250_000 }),
      a,
      2000,
    );
    expect(b.lossPercent).toBe(10);
    expect(b.inboundKbps).toBe(1000);
    expect(b.outboundKbps).toBe(2000);
    expect(b.quality).toBe('poor');
  });

  it('rates by both round-trip time and loss', () => {
    expect(rateQuality(40, 0)).toBe('good');
    expect(rateQuality(300, 0)).toBe('fair');
    expect(rateQuality(40, 5)).toBe('fair');
    expect(rateQuality(800, 0)).toBe('poor');
    expect(rateQuality(null, 0)).toBe('good');
    expect(describeQuality({ quality: 'fair', rttMs: null })).toBe('Connection fair');
  });

  it('falls back to the nominated pair when no transport names one', () => {
    const stats = report({ rtt: 0.12, received: 0, lost: 0, bytesIn: 0, bytesOut: 0 }).filter(
      (s) => s.type !== 'transport',
    );
    expect(summarizeStats(stats, null, 0).rttMs).toBe(120);
  });
});

describe('StatsSampler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A connection whose getStats answers after `delayMs` with a growing packet count. */
  function fakePc(delayMs: number) {
    let packets = 0;
    const pc = {
      connectionState: 'connected' as RTCPeerConnectionState,
      calls: 0,
      getStats: () => {
        pc.calls++;
        packets += 50;
        const stats = [{ id: 'I', type: 'inbound-rtp', kind: 'audio', packetsReceived: packets }];
        return new Promise((resolve) =>
          setTimeout(() => resolve({ forEach: (f: (s: RawStat) => void) => stats.forEach(f) }), delayMs),
        );
      },
    };
    return pc;
  }

  it('samples every connection of a call together and hands the samples on at one moment', async () => {
    vi.useFakeTimers();
    const delivered: [string, number][] = [];
    const a = fakePc(5);
    const b = fakePc(40);
    const sa = new StatsSampler(a as unknown as RTCPeerConnection, () => delivered.push(['a', Date.now()]));
    sa.start();
    await vi.advanceTimersByTimeAsync(300); // b connects later: its first sample comes at once
    const sb = new StatsSampler(b as unknown as RTCPeerConnection, () => delivered.push(['b', Date.now()]));
    sb.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(delivered.map(([who]) => who)).toEqual(['a', 'b']);
    delivered.length = 0;
    // From then on both are read on the same tick, and the quicker waits for the slower: their
    // samples come together (one redraw), not each at its own moment.
    await vi.advanceTimersByTimeAsync(3000);
    expect(delivered.map(([who]) => who)).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    for (let i = 0; i < delivered.length; i += 2) expect(delivered[i]![1]).toBe(delivered[i + 1]![1]);
    expect(new Set(delivered.map(([, at]) => at)).size).toBe(3);
    expect(sb.latest?.totals.packetsReceived).toBe(200);
    // Stopping one that never started undoes nothing.
    new StatsSampler(a as unknown as RTCPeerConnection, () => {}).stop();
    // A stopped sampler is no longer read; the last one stopped stops the clock.
    sa.stop();
    const calls = a.calls;
    await vi.advanceTimersByTimeAsync(2000);
    expect(a.calls).toBe(calls);
    expect(b.calls).toBe(6);
    sb.stop();
    await vi.advanceTimersByTimeAsync(100);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not hold the others back for a slow connection', async () => {
    vi.useFakeTimers();
    const delivered: [string, number][] = [];
    const quick = new StatsSampler(fakePc(5) as unknown as RTCPeerConnection, () =>
      delivered.push(['quick', Date.now()]),
    );
    const slow = new StatsSampler(fakePc(800) as unknown as RTCPeerConnection, () =>
      delivered.push(['slow', Date.now()]),
    );
    const t0 = Date.now();
    quick.start();
    slow.start();
    await vi.advanceTimersByTimeAsync(900);
    delivered.length = 0;
    await vi.advanceTimersByTimeAsync(1000); // the tick at 1000 ms
    expect(delivered.map(([who, at]) => [who, at - t0])).toEqual([
      ['quick', 1500],
      ['slow', 1800],
    ]);
    quick.stop();
    slow.stop();
  });

  it('skips a closed connection', async () => {
    vi.useFakeTimers();
    const pc = fakePc(1);
    const samples: number[] = [];
    const s = new StatsSampler(pc as unknown as RTCPeerConnection, (x) =>
      samples.push(x.totals.packetsReceived),
    );
    s.start();
    await vi.advanceTimersByTimeAsync(1500);
    expect(samples).toEqual([50, 100]);
    pc.connectionState = 'closed';
    await vi.advanceTimersByTimeAsync(3000);
    expect(samples).toEqual([50, 100]);
    s.stop();
  });
});
