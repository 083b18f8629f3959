/**
 * The screen share as a source of its own: one connection's transceivers for it, the fan-out
 * to every connection with the camera stepping down, and how the other side tells the share
 * from the camera (by the announced stream id, whichever comes first). Fakes of WebRTC here;
 * real Chromium in test/e2e/screen-share.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakePeerConnection, FakeSignaling, FP, sdpWith } from '../../test/helpers/fake-webrtc.ts';
import { LocalTracks } from './local-tracks.ts';
import { captureOf, describeDisplayError, type ScreenCapture, ScreenSenders } from './screen-share.ts';
import { CallSession } from './session.ts';
import { videoCap } from './uplink-budget.ts';
import { deriveAuthKey, signDescription } from './verify.ts';

class FakeTrack extends EventTarget {
  enabled = true;
  readyState = 'live';
  contentHint = '';
  constructor(
    readonly kind: 'audio' | 'video',
    readonly id = Math.random().toString(36).slice(2),
  ) {
    super();
  }
  stop() {
    this.readyState = 'ended';
  }
}

class FakeStream {
  readonly #tracks: FakeTrack[];
  constructor(
    tracks: FakeTrack[] = [],
    readonly id = Math.random().toString(36).slice(2),
  ) {
    this.#tracks = [...tracks];
  }
  getTracks() {
    return [...this.#tracks];
  }
  getAudioTracks() {
    return this.#tracks.filter((t) => t.kind === 'audio');
  }
  getVideoTracks() {
    return this.#tracks.filter((t) => t.kind === 'video');
  }
  addTrack(t: FakeTrack) {
    this.#tracks.push(t);
  }
  removeTrack(t: FakeTrack) {
    this.#tracks.splice(this.#tracks.indexOf(t), 1);
  }
}

function screenCapture(id: string, withAudio = true): ScreenCapture {
  const tracks = [new FakeTrack('video'), ...(withAudio ? [new FakeTrack('audio')] : [])];
  return captureOf(new FakeStream(tracks, id) as unknown as MediaStream);
}

interface FakeTransceiver {
  track: unknown;
  direction: string;
  currentDirection: string | null;
  streams: string[];
  sender: {
    track: unknown;
    replaceTrack(t: unknown): Promise<void>;
    setStreams(...s: Array<{ id: string }>): void;
  };
}

/** Enough of a connection for ScreenSenders: transceivers added and changed by hand. */
function fakePc() {
  const transceivers: FakeTransceiver[] = [];
  const pc = {
    signalingState: 'stable',
    transceivers,
    addTransceiver(track: unknown, init: { direction: string; streams: Array<{ id: string }> }) {
      const t: FakeTransceiver = {
        track,
        direction: init.direction,
        currentDirection: null,
        streams: init.streams.map((s) => s.id),
        sender: {
          track,
          async replaceTrack(next: unknown) {
            t.sender.track = next;
          },
          setStreams(...s: Array<{ id: string }>) {
            t.streams = s.map((x) => x.id);
          },
        },
      };
      transceivers.push(t);
      return t;
    },
  };
  return pc;
}

/** A camera sender whose encoding parameters we can read. */
function cameraSender() {
  const encoding: RTCRtpEncodingParameters = { active: true };
  return {
    encoding,
    sender: {
      // A 720p camera: while sharing it steps down to 360 lines.
      track: { getSettings: () => ({ height: 720 }) },
      replaceTrack: async () => {},
      getParameters: () => ({ encodings: [{ ...encoding }] }),
      setParameters: async (p: { encodings: RTCRtpEncodingParameters[] }) => {
        for (const key of Object.keys(encoding)) delete (encoding as Record<string, unknown>)[key];
        Object.assign(encoding, p.encodings[0]);
      },
    } as unknown as RTCRtpSender,
  };
}

beforeEach(() => {
  vi.stubGlobal('MediaStream', FakeStream);
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('ScreenSenders', () => {
  it('adds send-only transceivers labelled with the capture stream, then reuses them for the next share', async () => {
    const pc = fakePc();
    const screen = new ScreenSenders(pc as unknown as RTCPeerConnection);
    const first = screenCapture('S1');
    await screen.set(first);
    expect(pc.transceivers.map((t) => [t.track, t.direction, t.streams])).toEqual([
      [first.video, 'sendonly', ['S1']],
      [first.audio, 'sendonly', ['S1']],
    ]);
    expect(first.video.contentHint).toBe('detail');

    await screen.set(null);
    expect(pc.transceivers.map((t) => [t.sender.track, t.direction])).toEqual([
      [null, 'inactive'],
      [null, 'inactive'],
    ]);

    expect(screen.streamId).toBeNull();

    // A share without audio: the same transceivers, the audio one stays off. Not relabelled
    // (that renegotiated twice in Chromium): the first label is the one announced.
    const second = screenCapture('S2', false);
    await screen.set(second);
    expect(pc.transceivers).toHaveLength(2);
    expect(pc.transceivers.map((t) => [t.sender.track, t.direction, t.streams])).toEqual([
      [second.video, 'sendonly', ['S1']],
      [null, 'inactive', ['S1']],
    ]);
    expect(screen.streamId).toBe('S1');
  });

  it('a transceiver added by a later share (the first had no audio) joins the first label', async () => {
    const pc = fakePc();
    const screen = new ScreenSenders(pc as unknown as RTCPeerConnection);
    await screen.set(screenCapture('S1', false));
    expect(screen.streamId).toBe('S1');
    await screen.set(null);
    const second = screenCapture('S2');
    await screen.set(second);
    expect(pc.transceivers.map((t) => [t.sender.track, t.direction, t.streams])).toEqual([
      [second.video, 'sendonly', ['S1']],
      [second.audio, 'sendonly', ['S1']],
    ]);
    expect(screen.streamId).toBe('S1');
  });
});

describe('LocalTracks with a screen share', () => {
  it('every connection sends the share, later ones too; cameras step down while it lasts; the old capture stops', async () => {
    const tracks = new LocalTracks('video');
    const one = { pc: fakePc(), camera: cameraSender() };
    const two = { pc: fakePc(), camera: cameraSender() };
    tracks.attach({
      audio: null,
      video: one.camera.sender,
      screen: new ScreenSenders(one.pc as unknown as RTCPeerConnection),
    });
    const capture = screenCapture('S1');
    expect(tracks.setScreen(capture)).toBe(true);
    expect(tracks.setScreen(capture)).toBe(false);
    expect(one.pc.transceivers).toHaveLength(2);
    // Two people: no group budget, but the share's step down (720 → 360 lines, 250 kbit/s).
    await vi.waitFor(() => expect(one.camera.encoding.scaleResolutionDownBy).toBe(2));
    expect(one.camera.encoding.maxBitrate).toBe(250_000);

    // A connection made during the share (a newcomer) gets it at once.
    tracks.attach({
      audio: null,
      video: two.camera.sender,
      screen: new ScreenSenders(two.pc as unknown as RTCPeerConnection),
    });
    expect(two.pc.transceivers.map((t) => t.track)).toEqual([capture.video, capture.audio]);
    await vi.waitFor(() => expect(two.camera.encoding.scaleResolutionDownBy).toBe(2));

    expect(tracks.setScreen(null)).toBe(true);
    await vi.waitFor(() => expect(capture.video.readyState).toBe('ended'));
    expect(capture.audio?.readyState).toBe('ended');
    // Back to the group call's budget for three people (two copies).
    for (const c of [one, two]) {
      expect(c.camera.encoding.scaleResolutionDownBy).toBe(1);
      expect(c.camera.encoding.maxBitrate).toBe(videoCap(3)?.maxBitrate);
      expect(c.pc.transceivers.map((t) => t.direction)).toEqual(['inactive', 'inactive']);
    }

    // Hanging up stops a share that is on.
    const again = screenCapture('S2');
    tracks.setScreen(again);
    tracks.stop();
    expect(again.video.readyState).toBe('ended');
    expect(tracks.screen).toBeNull();
  });
});

describe('describeDisplayError', () => {
  it('a closed picker is no error to show; a system refusal says what to do', () => {
    expect(
      describeDisplayError(Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' })).code,
    ).toBe('cancelled');
    const system = describeDisplayError(
      Object.assign(new Error('Permission denied by system'), { name: 'NotAllowedError' }),
    );
    expect(system.code).toBe('blocked');
    expect(system.message).toMatch(/system settings/);
    expect(describeDisplayError(new Error('boom')).message).toBe(
      'The screen could not be shared. Try again.',
    );
  });
});

describe('CallSession: a remote screen share', () => {
  const ROOM = 'RRRRRRRRRRRRRRRRRRRRRR';
  const ME = 'MMMMMMMMMMMMMMMMMMMMMM';
  const ANA = 'AAAAAAAAAAAAAAAAAAAAAA';
  const SECRET = 'the-link-secret-the-link-secret';

  /** We joined after Ana, she offered, we answered: the call is up with both channels open. */
  async function inCallWithAna() {
    FakePeerConnection.all = [];
    const signaling = new FakeSignaling({
      room: ROOM,
      peerId: ME,
      peers: [ANA],
      iceServers: [],
      capacity: 3,
    });
    const mic = new FakeTrack('audio');
    const cam = new FakeTrack('video');
    const session = new CallSession({
      signaling,
      room: ROOM,
      secret: SECRET,
      media: 'video',
      localName: 'Me',
      localStream: new FakeStream([mic, cam]) as unknown as MediaStream,
      offerWaitMs: 60_000,
      listenPageHide: false,
      createPeerConnection: (config) => new FakePeerConnection(config) as unknown as RTCPeerConnection,
    });
    await session.start();
    const sdp = sdpWith(FP);
    signaling.fire('signal', ANA, {
      kind: 'description',
      description: { type: 'offer', sdp },
      auth: await signDescription(await deriveAuthKey(SECRET), ANA, sdp),
    });
    await vi.waitFor(() => expect(FakePeerConnection.all[0]?.localDescription?.type).toBe('answer'));
    const pc = FakePeerConnection.all[0]!;
    pc.setConnection('connected');
    for (const c of pc.channels) c.openNow();
    const control = pc.channels[0]!;
    const say = (message: object) => control.message(JSON.stringify(message));
    say({ t: 'hello', name: 'Ana' });
    const ontrack = (track: FakeTrack, streams: string[]) =>
      (pc.ontrack as unknown as (ev: object) => void)({ track, streams: streams.map((id) => ({ id })) });
    const ana = () => session.remotePeers[0]!;
    return { session, signaling, pc, control, say, ontrack, ana };
  }

  it('a video track in the announced stream is her screen, not her camera, whichever comes first; stop removes it', async () => {
    const { say, ontrack, ana } = await inCallWithAna();
    const mic = new FakeTrack('audio');
    const cam = new FakeTrack('video');
    ontrack(mic, []);
    ontrack(cam, []);
    expect(ana().tracks).toEqual({ microphone: mic, camera: cam });

    // The track first: it waits for the announcement instead of taking the camera's place.
    const screen = new FakeTrack('video');
    const tabAudio = new FakeTrack('audio');
    ontrack(screen, ['S1']);
    ontrack(tabAudio, ['S1']);
    expect(ana().tracks.camera).toBe(cam);
    expect(ana().screen).toBeNull();
    say({ t: 'screen', stream: 'S1' });
    expect(ana().tracks).toEqual({ microphone: mic, camera: cam, screen, 'screen-audio': tabAudio });
    expect(ana().screen?.getTracks()).toEqual([screen, tabAudio]);
    expect(ana().stream?.getTracks()).toEqual([mic, cam]);

    say({ t: 'screen', stream: null });
    expect(ana().screen).toBeNull();
    expect(ana().tracks).toEqual({ microphone: mic, camera: cam });

    // The announcement first (the same transceiver again, a new stream label): a new stream.
    say({ t: 'screen', stream: 'S2' });
    expect(ana().screen).toBeNull();
    ontrack(screen, ['S2']);
    const shown = ana().screen;
    expect(shown?.getTracks()).toEqual([screen]);
    expect(ana().tracks.camera).toBe(cam);
  });

  it('ignores a malformed announcement', async () => {
    const { say, ontrack, ana } = await inCallWithAna();
    ontrack(new FakeTrack('video'), []);
    say({ t: 'screen', stream: '<script>'.repeat(20) });
    say({ t: 'screen' });
    expect(ana().screen).toBeNull();
  });

  it('sharing tells everyone the stream over the control channel and adds its transceivers; stopping tells them too', async () => {
    const { session, control, pc } = await inCallWithAna();
    const states: boolean[] = [];
    session.on('local', (s) => states.push(s.sharing));
    const capture = screenCapture('MINE');
    session.useScreen(capture);
    const sent = () => control.sent.map((m) => JSON.parse(m) as { t: string; stream?: string | null });
    expect(sent().filter((m) => m.t === 'screen')).toEqual([{ t: 'screen', stream: 'MINE' }]);
    expect(pc.transceivers.map((t) => t.kind)).toContain(capture.video);
    // The browser's own "Stop sharing" ends the track.
    capture.video.dispatchEvent(new Event('ended'));
    expect(sent().filter((m) => m.t === 'screen')).toEqual([
      { t: 'screen', stream: 'MINE' },
      { t: 'screen', stream: null },
    ]);
    expect(states).toEqual([true, false]);
    expect(session.screen).toBeNull();
  });
});
