/**
 * Connection quality from `RTCPeerConnection.getStats()`. The pure part (`summarizeStats`,
 * `rateQuality`) works on plain stat objects so it is unit-tested with fake reports; the
 * `StatsSampler` polls a real connection about once a second.
 */

export type Quality = 'good' | 'fair' | 'poor';

export interface StatsSample {
  /** When the sample was taken (the report's timestamp, ms). */
  timestamp: number;
  /** Round-trip time of the selected candidate pair, ms; null until known. */
  rttMs: number | null;
  /** Inbound RTP packet loss over the last interval, percent (0-100). */
  lossPercent: number;
  inboundKbps: number;
  outboundKbps: number;
  /** Level of the remote audio, 0..1 (null when there is no inbound audio). */
  remoteAudioLevel: number | null;
  quality: Quality;
  /** Our video to them is held back for lack of bandwidth (the encoder says so). */
  bandwidthLimited: boolean;
  /** Whether the selected candidate pair goes through a TURN relay (either end); null until known. */
  relayed: boolean | null;
  /** Running totals, used to compute the next interval's rates. */
  totals: { bytesReceived: number; bytesSent: number; packetsReceived: number; packetsLost: number };
}

/** A stat object as Chrome reports it; only the fields we read. */
export interface RawStat {
  id: string;
  type: string;
  timestamp?: number;
  kind?: string;
  state?: string;
  nominated?: boolean;
  selected?: boolean;
  currentRoundTripTime?: number;
  selectedCandidatePairId?: string;
  localCandidateId?: string;
  remoteCandidateId?: string;
  candidateType?: string;
  bytesReceived?: number;
  bytesSent?: number;
  packetsReceived?: number;
  packetsLost?: number;
  audioLevel?: number;
  qualityLimitationReason?: string;
}

export const QUALITY_THRESHOLDS = {
  good: { rttMs: 250, lossPercent: 2 },
  fair: { rttMs: 500, lossPercent: 8 },
} as const;

export function rateQuality(rttMs: number | null, lossPercent: number): Quality {
  const rtt = rttMs ?? 0;
  if (rtt <= QUALITY_THRESHOLDS.good.rttMs && lossPercent <= QUALITY_THRESHOLDS.good.lossPercent)
    return 'good';
  if (rtt <= QUALITY_THRESHOLDS.fair.rttMs && lossPercent <= QUALITY_THRESHOLDS.fair.lossPercent)
    return 'fair';
  return 'poor';
}

/** Whether the pair's local or remote candidate is a TURN relay; null without a pair. */
function isRelayed(stats: RawStat[], pair: RawStat | undefined): boolean | null {
  if (!pair) return null;
  const types = stats
    .filter((s) => s.id === pair.localCandidateId || s.id === pair.remoteCandidateId)
    .map((s) => s.candidateType);
  return types.includes('relay');
}

function selectedPair(stats: RawStat[]): RawStat | undefined {
  const byId = new Map(stats.map((s) => [s.id, s]));
  for (const s of stats) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      const pair = byId.get(s.selectedCandidatePairId);
      if (pair) return pair;
    }
  }
  return (
    stats.find((s) => s.type === 'candidate-pair' && s.selected) ??
    stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded')
  );
}

/** Turn one report (and the previous sample, for rates) into a sample. */
export function summarizeStats(stats: RawStat[], previous: StatsSample | null, now: number): StatsSample {
  const pair = selectedPair(stats);
  const rttMs =
    typeof pair?.currentRoundTripTime === 'number' ? Math.round(pair.currentRoundTripTime * 1000) : null;
  const totals = { bytesReceived: 0, bytesSent: 0, packetsReceived: 0, packetsLost: 0 };
  let remoteAudioLevel: number | null = null;
  let bandwidthLimited = false;
  for (const s of stats) {
    if (s.type === 'inbound-rtp') {
      totals.bytesReceived += s.bytesReceived ?? 0;
      totals.packetsReceived += s.packetsReceived ?? 0;
      totals.packetsLost += Math.max(0, s.packetsLost ?? 0);
      if (s.kind === 'audio' && typeof s.audioLevel === 'number') {
        remoteAudioLevel = Math.max(remoteAudioLevel ?? 0, s.audioLevel);
      }
    } else if (s.type === 'outbound-rtp') {
      totals.bytesSent += s.bytesSent ?? 0;
      if (s.kind === 'video' && s.qualityLimitationReason === 'bandwidth') bandwidthLimited = true;
    }
  }
  let lossPercent = 0;
  let inboundKbps = 0;
  let outboundKbps = 0;
  if (previous) {
    const seconds = (now - previous.timestamp) / 1000;
    const received = Math.max(0, totals.packetsReceived - previous.totals.packetsReceived);
    const lost = Math.max(0, totals.packetsLost - previous.totals.packetsLost);
    lossPercent = received + lost > 0 ? (lost / (received + lost)) * 100 : 0;
    if (seconds > 0) {
      inboundKbps = Math.max(
        0,
        ((totals.bytesReceived - previous.totals.bytesReceived) * 8) / 1000 / seconds,
      );
      outboundKbps = Math.max(0, ((totals.bytesSent - previous.totals.bytesSent) * 8) / 1000 / seconds);
    }
  }
  return {
    timestamp: now,
    rttMs,
    lossPercent: Math.round(lossPercent * 10) / 10,
    inboundKbps: Math.round(inboundKbps),
    outboundKbps: Math.round(outboundKbps),
    remoteAudioLevel,
    bandwidthLimited,
    quality: rateQuality(rttMs, lossPercent),
    relayed: isRelayed(stats, pair),
    totals,
  };
}

/** "Connection good, 40 ms" — what a screen reader and the tooltip say. */
export function describeQuality(sample: Pick<StatsSample, 'quality' | 'rttMs'>): string {
  return sample.rttMs === null
    ? `Connection ${sample.quality}`
    : `Connection ${sample.quality}, ${sample.rttMs} ms`;
}

/**
 * The samplers of one interval share one timer: the connections of a group call are sampled
 * in the same task and their samples delivered together, so the call screen redraws once a
 * second for all of them instead of once per connection at its own moment (at six people,
 * five redraws a second; see "Where a person's CPU goes" in docs/performance.md).
 */
const clocks = new Map<number, { timer: ReturnType<typeof setInterval>; samplers: Set<StatsSampler> }>();

function join(sampler: StatsSampler, intervalMs: number): void {
  let clock = clocks.get(intervalMs);
  if (!clock) {
    const samplers = new Set<StatsSampler>();
    const timer = setInterval(() => void tick(samplers, intervalMs / 2), intervalMs);
    clock = { timer, samplers };
    clocks.set(intervalMs, clock);
  }
  clock.samplers.add(sampler);
}

function leave(sampler: StatsSampler, intervalMs: number): void {
  const clock = clocks.get(intervalMs);
  if (!clock?.samplers.delete(sampler) || clock.samplers.size > 0) return;
  clearInterval(clock.timer);
  clocks.delete(intervalMs);
}

/**
 * Read every sampler of the clock, and hand the reports on together once all are in, or at
 * half an interval: one slow connection does not hold the others' samples back (its own comes
 * when it is in).
 */
async function tick(samplers: Set<StatsSampler>, waitMs: number): Promise<void> {
  const due = [...samplers];
  const reports: (RawStat[] | null)[] = due.map(() => null);
  let gathered = false;
  const all = Promise.all(
    due.map(async (s, i) => {
      const report = await s.read();
      if (!gathered) reports[i] = report;
      else if (report && samplers.has(s)) s.take(report);
    }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
  clearTimeout(timer);
  gathered = true;
  due.forEach((s, i) => {
    const report = reports[i];
    if (report && samplers.has(s)) s.take(report);
  });
}

/** Polls one connection's stats every `intervalMs` (with the others of that interval) until stopped. */
export class StatsSampler {
  private started = false;
  private last: StatsSample | null = null;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly onSample: (sample: StatsSample) => void,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    join(this, this.intervalMs);
    void this.sample();
  }

  /** Sample now, on its own. */
  async sample(): Promise<StatsSample | null> {
    const report = await this.read();
    return report ? this.take(report) : null;
  }

  /** The connection's stats now; null once closed (or when it cannot tell). */
  async read(): Promise<RawStat[] | null> {
    if (this.pc.connectionState === 'closed') return null;
    let report: RTCStatsReport;
    try {
      report = await this.pc.getStats();
    } catch {
      return null;
    }
    const stats: RawStat[] = [];
    report.forEach((s: RawStat) => {
      stats.push(s);
    });
    return stats;
  }

  /** Turn a report into the next sample and hand it on. */
  take(stats: RawStat[]): StatsSample {
    this.last = summarizeStats(stats, this.last, performance.now());
    this.onSample(this.last);
    return this.last;
  }

  get latest(): StatsSample | null {
    return this.last;
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    leave(this, this.intervalMs);
  }
}
