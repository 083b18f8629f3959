/**
 * Our microphone and camera in every connection's senders: one change, every connection
 * (with fake tracks and senders; real media in test/e2e).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalTracks, type MediaSenders } from './local-tracks.ts';

class FakeTrack {
  enabled = true;
  readyState = 'live';
  constructor(readonly kind: 'audio' | 'video') {}
  stop() {
    this.readyState = 'ended';
  }
}

function stream(...tracks: FakeTrack[]): MediaStream {
  const list = [...tracks];
  return {
    getTracks: () => [...list],
    getAudioTracks: () => list.filter((t) => t.kind === 'audio'),
    getVideoTracks: () => list.filter((t) => t.kind === 'video'),
    addTrack: (t: FakeTrack) => list.push(t),
    removeTrack: (t: FakeTrack) => list.splice(list.indexOf(t), 1),
  } as unknown as MediaStream;
}

function senders(): MediaSenders & { sent: { audio: unknown[]; video: unknown[] } } {
  const sent = { audio: [] as unknown[], video: [] as unknown[] };
  const sender = (kind: 'audio' | 'video') =>
    ({
      replaceTrack: async (t: unknown) => {
        sent[kind].push(t);
      },
    }) as unknown as RTCRtpSender;
  return { audio: sender('audio'), video: sender('video'), sent };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('LocalTracks', () => {
  it('every connection gets the devices when they come, and a new device stream reaches all of them', async () => {
    const tracks = new LocalTracks('video');
    const a = senders();
    const b = senders();
    tracks.attach(a);
    tracks.attach(b);
    // Before the devices: empty senders (the connection is made anyway).
    expect(a.sent).toEqual({ audio: [null], video: [null] });
    const mic = new FakeTrack('audio');
    const cam = new FakeTrack('video');
    expect(tracks.use(stream(mic, cam))).toBe(true);
    expect(tracks.use(tracks.stream!)).toBe(false);
    for (const s of [a, b]) expect(s.sent).toEqual({ audio: [null, mic], video: [null, cam] });
    expect(tracks.micOn && tracks.cameraOn).toBe(true);
  });

  it('camera off empties every video sender and stops the camera; on sends the new camera to all', async () => {
    const cam = new FakeTrack('video');
    const tracks = new LocalTracks('video', stream(new FakeTrack('audio'), cam));
    const a = senders();
    const b = senders();
    tracks.attach(a);
    tracks.attach(b);
    expect(await tracks.setCameraEnabled(false)).toBe(true);
    expect(cam.readyState).toBe('ended');
    expect([a.sent.video.at(-1), b.sent.video.at(-1)]).toEqual([null, null]);
    const fresh = new FakeTrack('video');
    vi.stubGlobal('navigator', { mediaDevices: { getUserMedia: async () => stream(fresh) } });
    expect(await tracks.setCameraEnabled(true)).toBe(true);
    expect([a.sent.video.at(-1), b.sent.video.at(-1)]).toEqual([fresh, fresh]);
    expect(tracks.cameraOn).toBe(true);
  });

  it('a detached connection gets no more changes', () => {
    const tracks = new LocalTracks('audio');
    const a = senders();
    const detach = tracks.attach(a);
    detach();
    tracks.use(stream(new FakeTrack('audio')));
    expect(a.sent.audio).toEqual([null]);
  });

  it('once stopped, devices that arrive late are stopped at once (the camera light goes off)', () => {
    const tracks = new LocalTracks('video', stream(new FakeTrack('audio')));
    tracks.stop();
    const late = new FakeTrack('video');
    expect(tracks.use(stream(late))).toBe(false);
    expect(late.readyState).toBe('ended');
    expect(tracks.setMicEnabled(false)).toBe(false);
  });
});
