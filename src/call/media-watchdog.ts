/**
 * Notices that media stopped on a connection that may still say "connected", and asks for a
 * recovery: an ICE restart, then, if media does not come back (or stops again soon after),
 * ICE restarts through the TURN relay only.
 *
 * Why the state alone is not enough: a selected candidate pair can die without ICE noticing
 * for seconds (a laptop that moved to another network keeps "connected" for 3 s and more),
 * and a pair through a TURN relay dies for good when the TURN server drops the allocation
 * under it. coturn does that when relaying to one of the other side's candidates fails (a
 * private host address its network cannot reach: "wrote to peer -1 bytes", then the session
 * is closed); the pair then carried media for about half a second and nothing after, while
 * the state said "connected". Relay-only connections, which never pair with such addresses,
 * survive it. See docs/architecture.md ("When media stops").
 *
 * Pure logic: it is fed the running count of inbound RTP packets (from the stats sampler,
 * about once a second) and calls its target. Media that never started (the other side has
 * no microphone or camera) is never called stalled. A muted microphone still sends packets.
 */

export interface MediaWatchdogTarget {
  /** Restart ICE; with `relayOnly`, from now on through the TURN relay only. */
  restart(relayOnly: boolean): void;
  /** Media stopped (true: show "Reconnecting…") or flows again (false). */
  stalled(stalled: boolean): void;
  /** Every restart failed: the connection is lost. */
  lost(): void;
  /**
   * A sample with no new packet on a connection that had media: not a stall yet, but worth a
   * look at whatever else may have broken with the network (the signaling socket). Once per
   * silence.
   */
  quiet?(): void;
}

export interface MediaWatchdogOptions {
  /** No new inbound packets for this long is a stall. */
  stallMs?: number;
  /** How long a restart gets to bring media back before the next one. */
  settleMs?: number;
  /** Media flowing this long after a restart means it worked: a later stall starts over. */
  steadyMs?: number;
  /** Restarts (the first plain, the others relay-only) before giving up. */
  maxRestarts?: number;
}

export class MediaWatchdog {
  private readonly stallMs: number;
  private readonly settleMs: number;
  private readonly steadyMs: number;
  private readonly maxRestarts: number;
  private packets = -1;
  private lastGrowthAt = 0;
  private flowed = false;
  private isStalled = false;
  private restarts = 0;
  private lastRestartAt = Number.NEGATIVE_INFINITY;
  private relay = false;
  private gaveUp = false;
  private peerRestarted = false;
  private quietTold = false;

  constructor(
    private readonly target: MediaWatchdogTarget,
    options: MediaWatchdogOptions = {},
  ) {
    this.stallMs = options.stallMs ?? 2000;
    this.settleMs = options.settleMs ?? 5000;
    this.steadyMs = options.steadyMs ?? 30_000;
    this.maxRestarts = options.maxRestarts ?? 4;
  }

  get stalled(): boolean {
    return this.isStalled;
  }

  /**
   * A restart not of our making: the other side's (its watchdog saw the stall too), or ours
   * after the device's network changed. It gets its `settleMs` before we start one of our
   * own, which would only start the checks over.
   */
  remoteRestart(): void {
    this.peerRestarted = true;
  }

  /** One stats sample: inbound RTP packets received so far on this connection, at `now` (ms). */
  observe(packetsReceived: number, now: number): void {
    if (this.gaveUp) return;
    if (this.peerRestarted) {
      this.peerRestarted = false;
      this.lastRestartAt = now;
    }
    const before = this.packets;
    this.packets = packetsReceived;
    if (before < 0 || packetsReceived < before) {
      // The first sample (media that arrived before it counts: a pair can die within a
      // second of connecting), or counters that started over: a new baseline.
      if (before < 0 && packetsReceived > 0) this.flowed = true;
      this.lastGrowthAt = now;
      return;
    }
    if (packetsReceived > before) {
      this.lastGrowthAt = now;
      this.flowed = true;
      this.quietTold = false;
      if (this.restarts > 0 && now - this.lastRestartAt >= this.steadyMs) this.restarts = 0;
      if (this.isStalled) {
        this.isStalled = false;
        this.target.stalled(false);
      }
      return;
    }
    if (this.flowed && !this.quietTold) {
      this.quietTold = true;
      this.target.quiet?.();
    }
    if (!this.flowed || now - this.lastGrowthAt < this.stallMs) return;
    if (!this.isStalled) {
      this.isStalled = true;
      this.target.stalled(true);
    }
    if (now - this.lastRestartAt < this.settleMs) return;
    if (this.restarts >= this.maxRestarts) {
      this.gaveUp = true;
      this.target.lost();
      return;
    }
    this.restarts++;
    this.lastRestartAt = now;
    // A restart that did not bring media back for long (or at all) is followed by relay-only
    // ones: the relay path is the one that survives what killed the others.
    if (this.restarts >= 2) this.relay = true;
    this.target.restart(this.relay);
  }
}

/** Whether an ICE candidate (`candidate:…` or an `a=candidate:` line) is a host candidate. */
export function isHostCandidate(candidate: string): boolean {
  return /\styp host(\s|$)/.test(candidate);
}

/** A description without its host candidates (for a connection that went relay-only). */
export function withoutHostCandidates(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((line) => !(line.startsWith('a=candidate:') && isHostCandidate(line)))
    .join('\r\n');
}
