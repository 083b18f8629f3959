/**
 * The uplink budget of a group call. In a full mesh each person sends one copy of their
 * camera to each of the others (N − 1 copies); unbounded, a 6-person call asks a laptop's
 * uplink for 5 × 2.5 Mbit/s. Each copy gets an equal share of UPLINK_BUDGET_KBPS (with room
 * for the audio and some headroom), and a resolution to go with it, set on every video
 * sender with RTCRtpSender.setParameters (no renegotiation). Two people (one copy) keep the
 * browser's own choice.
 */

/** What a 6-person call must fit in, kbit/s. */
export const UPLINK_BUDGET_KBPS = 4000;
/** Opus at its usual rate, with packet overhead, per copy. */
const AUDIO_KBPS = 40;
/** Left free for RTCP, retransmissions, data channels and estimation error. */
const HEADROOM = 0.85;

export interface VideoCap {
  /** bit/s for one copy. */
  maxBitrate: number;
  /** Lines at most (the sender scales down to it). */
  maxHeight: number;
}

/** The cap per video copy with `people` in the call (us included); null: no cap. */
export function videoCap(people: number): VideoCap | null {
  if (people <= 2) return null;
  const copies = people - 1;
  const kbps = Math.min(2500, Math.floor((UPLINK_BUDGET_KBPS * HEADROOM) / copies - AUDIO_KBPS));
  const maxHeight = kbps >= 1500 ? 720 : kbps >= 900 ? 540 : kbps >= 450 ? 360 : 240;
  return { maxBitrate: kbps * 1000, maxHeight };
}

/** How much to scale a track of this height down for the cap (1: not at all). */
export function scaleFor(trackHeight: number | undefined, cap: VideoCap | null): number {
  if (!cap || !trackHeight || trackHeight <= cap.maxHeight) return 1;
  return trackHeight / cap.maxHeight;
}

/** Put the cap on one video sender (or take ours off). Failures leave the sender as it was. */
export async function applyVideoCap(sender: RTCRtpSender, cap: VideoCap | null): Promise<void> {
  const params = sender.getParameters();
  const encoding = params.encodings?.[0];
  if (!encoding) return; // Not negotiated yet: applied again once it is.
  const scale = scaleFor(sender.track?.getSettings().height, cap);
  if (cap) {
    if (encoding.maxBitrate === cap.maxBitrate && (encoding.scaleResolutionDownBy ?? 1) === scale) return;
    encoding.maxBitrate = cap.maxBitrate;
    encoding.scaleResolutionDownBy = scale;
  } else {
    if (encoding.maxBitrate === undefined && (encoding.scaleResolutionDownBy ?? 1) === 1) return;
    delete encoding.maxBitrate;
    encoding.scaleResolutionDownBy = 1;
  }
  await sender.setParameters(params);
}
