import { describe, expect, it } from 'vitest';
import { checkCapabilities } from './capabilities.ts';
import { describeMediaError } from './media.ts';

describe('capability detection', () => {
  it('passes a browser with WebRTC and getUserMedia', () => {
    expect(
      checkCapabilities({
        RTCPeerConnection: class {},
        navigator: { mediaDevices: { getUserMedia: () => {} } },
      }),
    ).toEqual({ ok: true });
  });

  it('explains a browser without WebRTC in one sentence', () => {
    const result = checkCapabilities({ navigator: { mediaDevices: { getUserMedia: () => {} } } });
    expect(result).toMatchObject({ ok: false, reason: 'no-webrtc' });
    expect(result.ok === false && result.message).toMatch(/cannot make calls/);
  });

  it('tells an insecure page apart from a browser without camera access', () => {
    expect(
      checkCapabilities({ RTCPeerConnection: class {}, isSecureContext: false, navigator: {} }),
    ).toMatchObject({ reason: 'insecure' });
    expect(
      checkCapabilities({ RTCPeerConnection: class {}, isSecureContext: true, navigator: {} }),
    ).toMatchObject({ reason: 'no-media' });
  });
});

describe('camera and microphone errors as sentences', () => {
  const err = (name: string) => Object.assign(new Error('x'), { name });

  it('a blocked camera offers audio only; a blocked mic in an audio call does not', () => {
    const video = describeMediaError(err('NotAllowedError'), 'video');
    expect(video.message).toMatch(/^Camera and microphone are blocked/);
    expect(video.canFallBackToAudio).toBe(true);
    const audio = describeMediaError(err('NotAllowedError'), 'audio');
    expect(audio.message).toMatch(/^The microphone is blocked/);
    expect(audio.canFallBackToAudio).toBe(false);
  });

  it('names missing and busy devices', () => {
    expect(describeMediaError(err('NotFoundError'), 'video').code).toBe('not-found');
    expect(describeMediaError(err('NotReadableError'), 'video').message).toMatch(/in use by another app/);
    expect(describeMediaError('weird', 'audio').message).toMatch(/could not be started/);
  });
});
