/** Can this browser make a call at all? One clear sentence when it cannot. */

export type CapabilityResult =
  | { ok: true }
  | { ok: false; reason: 'no-webrtc' | 'insecure' | 'no-media'; message: string };

export interface CapabilityEnvironment {
  RTCPeerConnection?: unknown;
  isSecureContext?: boolean;
  navigator?: { mediaDevices?: { getUserMedia?: unknown } };
}

export function checkCapabilities(
  env: CapabilityEnvironment = globalThis as CapabilityEnvironment,
): CapabilityResult {
  if (typeof env.RTCPeerConnection !== 'function') {
    return {
      ok: false,
      reason: 'no-webrtc',
      message:
        'This browser cannot make calls (it has no WebRTC). Open the link in a recent Chrome, Edge, Firefox or Safari.',
    };
  }
  if (typeof env.navigator?.mediaDevices?.getUserMedia !== 'function') {
    if (env.isSecureContext === false) {
      return {
        ok: false,
        reason: 'insecure',
        message:
          'This page is not secure (no https), so the browser will not share a camera or microphone. Open the link over https.',
      };
    }
    return {
      ok: false,
      reason: 'no-media',
      message: 'This browser does not give pages access to a camera or microphone, so it cannot join a call.',
    };
  }
  return { ok: true };
}
