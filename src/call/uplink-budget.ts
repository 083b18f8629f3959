/**
 * The uplink budget of a group call. In a full mesh each person sends one copy of their
 * camera to each of the others (N − 1 copies); unbounded, a 6-person call asks a laptop's
 * uplink for 5 × 2.5 Mbit/s. Each copy gets an equal share of UPLINK_BUDGET_KBPS (with room
 * for the audio and some headroom), and a resolution and frame rate to go with it, set on
 * every video sender with RTCRtpSender.setParameters (no renegotiation). Two people (one
 * copy) keep the browser's own choice.
 *
 * The uplink is not the only limit: each copy is encoded on its own, so the sender's CPU grows
 * with N − 1 too. From five people on, each copy goes at 15 frames per second (what Meet and
 * Jitsi send to a tile of a 5-6 person grid), which halves the encoding work per copy on a
 * 30 fps camera; the receivers decode half as many frames per person too.
 */

/** What a 6-person call must fit in, kbit/s. */
export const UPLINK_BUDGET_KBPS = 4000;
/** Opus at its usual rate, with packet overhead, per copy. */
const AUDIO_KBPS = 40;
/** Left free for RTCP, retransmissions, data channels and estimation error. */
const HEADROOM = 0.85;
/** From this many people in the call (us included) each copy goes at REDUCED_FPS. */
export const REDUCED_FPS_FROM = 5;
/** Frames per second per copy from REDUCED_FPS_FROM people on. */
export const REDUCED_FPS = 15;
/** Frames per second per copy below that: a camera's usual rate. */
export const FULL_FPS = 30;

export interface VideoCap {
  /** bit/s for one copy. */
  maxBitrate: number;
  /** Lines at most (the sender scales down to it). */
  maxHeight: number;
  /** Frames per second at most (the encoder drops the rest). */
  maxFramerate: number;
}

/** The cap per video copy with `people` in the call (us included); null: no cap. */
export function videoCap(people: number): VideoCap | null {
  if (people <= 2) return null;
  const copies = people - 1;
  const kbps = Math.min(2500, Math.floor((UPLINK_BUDGET_KBPS * HEADROOM) / copies - AUDIO_KBPS));
  const maxHeight = kbps >= 1500 ? 720 : kbps >= 900 ? 540 : kbps >= 450 ? 360 : 240;
  const maxFramerate = people >= REDUCED_FPS_FROM ? REDUCED_FPS : FULL_FPS;
  return { maxBitrate: kbps * 1000, maxHeight, maxFramerate };
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
    if (
      encoding.maxBitrate === cap.maxBitrate &&
      (encoding.scaleResolutionDownBy ?? 1) === scale &&
      encoding.maxFramerate === cap.maxFramerate
    )
      return;
    encoding.maxBitrate = cap.maxBitrate;
    encoding.scaleResolutionDownBy = scale;
    encoding.maxFramerate = cap.maxFramerate;
  } else {
    if (
      encoding.maxBitrate === undefined &&
      (encoding.scaleResolutionDownBy ?? 1) === 1 &&
      encoding.maxFramerate === undefined
    )
      return;
    delete encoding.maxBitrate;
    delete encoding.maxFramerate;
    encoding.scaleResolutionDownBy = 1;
  }
  await sender.setParameters(params);
}
