/**
 * A fresh keyframe from our video senders when a connection's path changes (an ICE restart
 * after a network change, a relay taking over).
 *
 * Why: while the old path was dead, the other side's decoder lost packets and asked for a
 * keyframe (PLI); that request was lost with the path, and Chromium asks again only after 3 s
 * without a decodable frame. So once packets flow again, the video stays frozen for seconds
 * (seen in the lab: a new pair chosen 3.8 s after a laptop moved, video back only at 6.4 s).
 * The sender cannot be asked for a keyframe from JavaScript, but re-activating an encoding
 * makes the encoder start with one: `setParameters` with `active: false`, then `true`
 * (measured in Chromium: one more `keyFramesEncoded` per toggle, each toggle ~10 ms, no
 * frame visibly lost). Nothing is renegotiated.
 */

/** How long after a nudge the next one waits (pair changes come in bursts while ICE settles). */
export const NUDGE_GAP_MS = 1000;

/** Sends a keyframe on one video sender now (see above). Never leaves the encoding inactive. */
export async function nudgeKeyframe(sender: RTCRtpSender): Promise<void> {
  const off = sender.getParameters();
  const encoding = off.encodings?.[0];
  if (!encoding || encoding.active === false || sender.track?.readyState !== 'live') return;
  for (const e of off.encodings) e.active = false;
  try {
    await sender.setParameters(off);
  } catch {
    return; // Someone else changed the parameters meanwhile: nothing was switched off.
  }
  // Someone else (the uplink budget) may read and write the parameters between our two
  // calls: we read again and switch back on whatever they wrote; and retry if that fails.
  for (let attempt = 0; attempt < 5; attempt++) {
    const on = sender.getParameters();
    for (const e of on.encodings ?? []) e.active = true;
    try {
      await sender.setParameters(on);
      return;
    } catch {
      if (sender.track === null) return;
    }
  }
}

/**
 * Calls `nudge` when the connection's selected candidate pair changes (the ICE transport's
 * `selectedcandidatepairchange`), at most once per `NUDGE_GAP_MS` (a change inside the gap
 * gets one nudge at its end). Browsers without `RTCIceTransport` events: nothing happens.
 * Returns the unsubscribe.
 */
export function watchPathChanges(pc: RTCPeerConnection, nudge: () => void): () => void {
  const transport = iceTransportOf(pc);
  if (!transport || !('onselectedcandidatepairchange' in transport)) return () => {};
  let last = Number.NEGATIVE_INFINITY;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fire = () => {
    timer = undefined;
    last = performance.now();
    nudge();
  };
  const onChange = () => {
    if (timer) return;
    const wait = last + NUDGE_GAP_MS - performance.now();
    if (wait <= 0) fire();
    else timer = setTimeout(fire, wait);
  };
  transport.addEventListener('selectedcandidatepairchange', onChange);
  return () => {
    clearTimeout(timer);
    transport.removeEventListener('selectedcandidatepairchange', onChange);
  };
}

/** The (bundled) ICE transport under the connection's media and data, once negotiated. */
function iceTransportOf(pc: RTCPeerConnection): RTCIceTransport | null {
  for (const sender of pc.getSenders()) if (sender.transport) return sender.transport.iceTransport;
  // (`transport` is never null where RTCSctpTransport exists; a fake in a test may lack it.)
  return pc.sctp?.transport?.iceTransport ?? null;
}

/** Every video sender of the connection with a live track gets a keyframe out now. */
export function nudgeVideoSenders(pc: RTCPeerConnection): void {
  if (pc.connectionState === 'closed') return;
  for (const sender of pc.getSenders())
    if (sender.track?.kind === 'video') void nudgeKeyframe(sender).catch(() => {});
}
