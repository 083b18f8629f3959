import { describe, expect, it } from 'vitest';
import { describeQuality, type RawStat, rateQuality, summarizeStats } from './stats.ts';

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
