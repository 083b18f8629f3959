/**
 * The session's decisions, with a fake signaling server and a fake RTCPeerConnection
 * (real WebRTC is exercised in test/e2e/guest-call.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakePeerConnection, FakeSignaling, FP, sdpWith } from '../../test/helpers/fake-webrtc.ts';
import { signCallDescription, verifyCallDescription } from '../identity/binding.ts';
import { identityFromSeed } from '../identity/keys.ts';
import { ALICE_KEY, ALICE_SEED, BOB_KEY, BOB_SEED, CALL_ID } from '../identity/test-vectors.ts';
import { type DescriptionAuth, LinkSecretAuth } from './description-auth.ts';
import { IdentitySignedAuth, keyChangedText } from './identity-signed-auth.ts';
import { CallSession, type CallStatus, RETURN_WAIT_MS } from './session.ts';
import { deriveAuthKey, signDescription, verifyDescription } from './verify.ts';

const ROOM = 'RRRRRRRRRRRRRRRRRRRRRR';
const ME = 'MMMMMMMMMMMMMMMMMMMMMM';
const ANA = 'AAAAAAAAAAAAAAAAAAAAAA';
const SECRET = 'the-link-secret-the-link-secret';
const FP_EVIL =
  'a=fingerprint:sha-256 66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66';
/** The same person's next connection (a re-mounted overlay makes a new certificate). */
const FP_NEXT =
  'a=fingerprint:sha-256 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0';

/** The link secret's MAC, telling the test when the first signature (the prepared offer's) is made. */
class WatchedAuth extends LinkSecretAuth {
  #signed: () => void = () => {};
  readonly firstSigned = new Promise<void>((resolve) => {
    this.#signed = resolve;
  });
  override async sign(senderId: string, sdp: string): Promise<string> {
    const auth = await super.sign(senderId, sdp);
    this.#signed();
    return auth;
  }
}

const micTrack = { kind: 'audio', enabled: true, stop() {} } as unknown as MediaStreamTrack;
const micStream = {
  getTracks: () => [micTrack],
  getAudioTracks: () => [micTrack],
  getVideoTracks: () => [],
} as unknown as MediaStream;

function setup(
  peers: string[] = [],
  extra: {
    offerWaitMs?: number;
    iceServers?: { urls: string }[];
    noStream?: boolean;
    rejoin?: boolean;
    setupRetryMs?: number;
    canPark?: boolean;
    capacity?: number;
    groupOfferDelayMs?: number;
  } = {},
) {
  FakePeerConnection.all = [];
  const signaling = new FakeSignaling({
    room: ROOM,
    peerId: ME,
    peers,
    iceServers: extra.iceServers ?? [{ urls: 'stun:127.0.0.1:3478' }],
    capacity: extra.capacity ?? 2,
    ...(extra.rejoin ? { rejoin: true } : {}),
    ...(extra.canPark ? { canPark: true } : {}),
  });
  const auth = new WatchedAuth(SECRET);
  const session = new CallSession({
    auth,
    // Most tests are about what follows the first offer; when we join second, let the
    // "nobody offered" fallback make it at once rather than wait.
    offerWaitMs: extra.offerWaitMs ?? 0,
    ...(extra.setupRetryMs ? { setupRetryMs: extra.setupRetryMs } : {}),
    ...(extra.groupOfferDelayMs !== undefined ? { groupOfferDelayMs: extra.groupOfferDelayMs } : {}),
    signaling,
    room: ROOM,
    secret: SECRET,
    media: 'audio',
    localName: 'Me',
    ...(extra.noStream ? {} : { localStream: micStream }),
    listenPageHide: false,
    disconnectGraceMs: 8000,
    createPeerConnection: (config) => new FakePeerConnection(config) as unknown as RTCPeerConnection,
  });
  const statuses: CallStatus[] = [];
  session.on('status', (s) => statuses.push(s));
  live.push(session);
  return { signaling, session, statuses, auth };
}

async function signedOffer(fp = FP, secret = SECRET, from = ANA) {
  const sdp = sdpWith(fp);
  const key = await deriveAuthKey(secret);
  return {
    kind: 'description',
    description: { type: 'offer', sdp },
    auth: await signDescription(key, from, sdp),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

async function signedAnswer(fp = FP, from = ANA) {
  const sdp = sdpWith(fp);
  return {
    kind: 'description',
    description: { type: 'answer', sdp },
    auth: await signDescription(await deriveAuthKey(SECRET), from, sdp),
  };
}

/** We joined after Ana, offered, she answered (fingerprint FP), and the call is up. */
async function connectedToAna() {
  const ctx = setup([ANA]);
  const links: string[] = [];
  const linkStates: string[] = [];
  const closed: Array<[string, string]> = [];
  const removed: string[] = [];
  ctx.session.on('link', (l) => {
    links.push(l.peerId);
    l.onState((state) => linkStates.push(state));
  });
  ctx.session.on('linkClosed', (id, reason) => closed.push([id, reason]));
  ctx.session.on('peerRemoved', (id) => removed.push(id));
  await ctx.session.start();
  await settle();
  const pc = FakePeerConnection.all[0]!;
  pc.onnegotiationneeded?.();
  await vi.waitFor(() => expect(ctx.signaling.sent.length).toBeGreaterThan(0));
  ctx.signaling.fire('signal', ANA, await signedAnswer());
  await vi.waitFor(() => expect(pc.remoteDescriptions).toHaveLength(1));
  pc.setConnection('connected');
  for (const c of pc.channels) c.openNow();
  pc.channels[0]?.message(JSON.stringify({ t: 'hello', name: 'Ana' }));
  expect(ctx.session.status.state).toBe('connected');
  return { ...ctx, pc, links, linkStates, closed, removed };
}

const descriptions = (sent: Array<{ to: string; data: unknown }>) =>
  sent
    .map((m) => ({ to: m.to, data: m.data as { kind: string; description?: { type: string; sdp: string } } }))
    .filter((m) => m.data.kind === 'description');

/** Sessions of the current test: closed after it, so none of their timers fires in the next. */
const live: CallSession[] = [];

afterEach(() => {
  vi.useRealTimers();
  for (const session of live.splice(0)) session.detach();
});

describe('CallSession', () => {
  it('waits alone with an offer ready, sends it signed the moment someone joins, and connects on the answer', async () => {
    const { signaling, session, statuses, auth } = setup();
    await session.start();
    // (The first key derivation of a loaded machine can take longer than a settle.)
    await auth.firstSigned;
    await settle();
    expect(session.status.state).toBe('waiting');
    // The offer is made while waiting: one connection, with our microphone's sender and both channels.
    expect(FakePeerConnection.all).toHaveLength(1);
    const pc = FakePeerConnection.all[0];
    expect(pc?.config.iceServers).toEqual([{ urls: 'stun:127.0.0.1:3478' }]);
    expect(pc?.channels.map((c) => c.label)).toEqual(['control', 'files']);
    expect(signaling.sent).toEqual([]);

    signaling.fire('peerJoined', ANA);
    // Ready and signed, the offer leaves within the same task: nothing of ours is awaited.
    expect(signaling.sent).toHaveLength(1);
    expect(session.status.state).toBe('connecting');
    expect(FakePeerConnection.all).toHaveLength(1);
    expect(pc?.transceivers[0]?.sender.track).toBe(micTrack);
    const offer = signaling.sent[0];
    expect(offer?.to).toBe(ANA);
    const data = offer?.data as { kind: string; description: { type: string; sdp: string }; auth: string };
    expect(data.description.type).toBe('offer');
    expect(await verifyDescription(await deriveAuthKey(SECRET), ME, data.description.sdp, data.auth)).toBe(
      true,
    );

    const key = await deriveAuthKey(SECRET);
    const answerSdp = sdpWith(FP);
    signaling.fire('signal', ANA, {
      kind: 'description',
      description: { type: 'answer', sdp: answerSdp },
      auth: await signDescription(key, ANA, answerSdp),
    });
    await vi.waitFor(() => expect(pc?.remoteDescriptions).toHaveLength(1));
    pc?.setConnection('connected');
    expect(session.status.state).toBe('connected');
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'connected']);
  });

  /** The fake connection gathers a candidate (listed in its description from then on). */
  function gather(pc: FakePeerConnection | undefined, candidate: string | null): void {
    if (candidate === null) return void pc?.onicecandidate?.({ candidate: null });
    pc?.onicecandidate?.({
      candidate: {
        candidate,
        toJSON: () => ({ candidate, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'old' }),
      },
    });
    if (pc?.localDescription) pc.localDescription.sdp += `a=${candidate}\r\n`;
  }

  it('parks its signed offer, candidates gathered, with a server that keeps one; handed over, it is not sent again', async () => {
    const { signaling, session, auth } = setup([], { canPark: true });
    await session.start();
    await auth.firstSigned;
    await settle();
    const pc = FakePeerConnection.all[0];
    // Not before its candidates are gathered...
    expect(signaling.parkedLog).toEqual([]);
    const host = 'candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host';
    gather(pc, host);
    gather(pc, null);
    await settle();
    // ...then once: a description signal with them, verifiable as ours.
    expect(signaling.parkedLog).toHaveLength(1);
    const parked = signaling.parkedLog[0] as {
      kind: string;
      description: { type: string; sdp: string };
      auth: string;
    };
    expect(parked.kind).toBe('description');
    expect(parked.description.type).toBe('offer');
    expect(parked.description.sdp).toContain(host);
    expect(
      await verifyDescription(await deriveAuthKey(SECRET), ME, parked.description.sdp, parked.auth),
    ).toBe(true);

    signaling.fire('peerJoined', ANA, true);
    await settle();
    // Ana has the offer and its candidate from the server: nothing more to send, nothing to take back.
    expect(signaling.sent).toEqual([]);
    expect(signaling.parkedLog).toHaveLength(1);
    expect(FakePeerConnection.all).toHaveLength(1);

    const answerSdp = sdpWith(FP);
    signaling.fire('signal', ANA, {
      kind: 'description',
      description: { type: 'answer', sdp: answerSdp },
      auth: await signDescription(await deriveAuthKey(SECRET), ANA, answerSdp),
    });
    await vi.waitFor(() => expect(pc?.remoteDescriptions).toHaveLength(1));
    pc?.setConnection('connected');
    expect(session.status.state).toBe('connected');
  });

  it('parks anyway when gathering is slow; handed over, it sends the candidates gathered since', async () => {
    const { signaling, session, auth } = setup([], { canPark: true });
    await session.start();
    await auth.firstSigned;
    await settle();
    expect(signaling.parkedLog).toEqual([]);
    // Gathering never completes (an unreachable STUN server, say): parked after 1.5 s anyway.
    await vi.waitFor(() => expect(signaling.parkedLog).toHaveLength(1), { timeout: 3000, interval: 50 });
    const pc = FakePeerConnection.all[0];
    const relay = 'candidate:5 1 udp 41885439 192.0.2.7 3478 typ relay';
    gather(pc, relay);
    signaling.fire('peerJoined', ANA, true);
    await settle();
    expect(signaling.sent.map((m) => (m.data as { kind: string }).kind)).toEqual(['candidate']);
    expect(signaling.sent[0]?.data).toMatchObject({ candidate: { candidate: relay } });
  });

  it('takes its parked offer back and sends it itself when the server did not hand it over', async () => {
    const { signaling, session, auth } = setup([], { canPark: true });
    await session.start();
    await auth.firstSigned;
    await settle();
    gather(FakePeerConnection.all[0], null);
    await settle();
    expect(signaling.parkedLog).toHaveLength(1);
    signaling.fire('peerJoined', ANA, false);
    expect(signaling.parkedLog).toEqual([expect.anything(), null]);
    expect(signaling.sent.map((m) => (m.data as { kind: string }).kind)).toEqual(['description']);
  });

  it('parks nothing on a server that does not keep parked messages', async () => {
    const { signaling, session } = setup();
    await session.start();
    await settle();
    expect(signaling.parkedLog).toEqual([]);
  });

  it('sends candidates gathered while waiting that the offer does not already carry', async () => {
    const { signaling, session } = setup();
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    const early = 'candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host';
    pc?.onicecandidate?.({
      candidate: {
        candidate: early,
        toJSON: () => ({ candidate: early, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'old' }),
      },
    });
    signaling.fire('peerJoined', ANA);
    await vi.waitFor(() => expect(signaling.sent.length).toBe(2));
    expect(signaling.sent.map((m) => (m.data as { kind: string }).kind)).toEqual([
      'description',
      'candidate',
    ]);
    expect(signaling.sent[1]?.data).toMatchObject({ candidate: { candidate: early } });
  });

  it('does not send again the candidates the offer carries (written with other extensions there)', async () => {
    const { signaling, session } = setup();
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    const inOffer = 'candidate:7 1 udp 2122260223 10.0.0.1 5000 typ host';
    const late = 'candidate:8 1 udp 2122194687 10.0.0.2 5001 typ host';
    for (const c of [inOffer, late]) {
      const text = `${c} generation 0 ufrag old network-id 1`;
      pc?.onicecandidate?.({
        candidate: {
          candidate: text,
          toJSON: () => ({ candidate: text, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'old' }),
        },
      });
    }
    // As browsers do: the local description now lists the first one, in its own words.
    if (pc?.localDescription) pc.localDescription.sdp += `a=${inOffer} generation 0 network-id 1\r\n`;
    signaling.fire('peerJoined', ANA);
    await vi.waitFor(() => expect(signaling.sent.length).toBe(2));
    await settle();
    expect(signaling.sent).toHaveLength(2);
    expect(signaling.sent[0]?.data).toMatchObject({
      kind: 'description',
      description: { sdp: expect.stringContaining(inOffer) },
    });
    expect(signaling.sent[1]?.data).toMatchObject({
      candidate: { candidate: expect.stringContaining(late) },
    });
  });

  it('as the newcomer, answers the offer of the peer already there, attaching its media to that offer', async () => {
    const { signaling, session } = setup([ANA], { offerWaitMs: 60_000 });
    await session.start();
    await settle();
    // A connection is made at once, while Ana's offer is on its way.
    expect(FakePeerConnection.all).toHaveLength(1);
    expect(FakePeerConnection.all[0]?.config.iceServers).toEqual([{ urls: 'stun:127.0.0.1:3478' }]);
    expect(session.status.state).toBe('connecting');
    signaling.fire('signal', ANA, await signedOffer());
    await vi.waitFor(() =>
      expect(signaling.sent.some((m) => (m.data as { kind: string }).kind === 'description')).toBe(true),
    );
    expect(FakePeerConnection.all).toHaveLength(1);
    const pc = FakePeerConnection.all[0];
    expect(pc?.remoteDescriptions).toHaveLength(1);
    const answer = signaling.sent.find((m) => (m.data as { kind: string }).kind === 'description')?.data as {
      description: { type: string; sdp: string };
      auth: string;
    };
    expect(answer.description.type).toBe('answer');
    expect(
      await verifyDescription(await deriveAuthKey(SECRET), ME, answer.description.sdp, answer.auth),
    ).toBe(true);
  });

  it('restarts ICE when a first connection has not connected 10 s after signaling completed, twice at most', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { signaling, session } = setup([ANA], { offerWaitMs: 60_000, setupRetryMs: 1000 });
    const notices: Array<string | null> = [];
    session.on('notice', (n) => notices.push(n));
    await session.start();
    signaling.fire('signal', ANA, await signedOffer());
    await vi.waitFor(() =>
      expect(signaling.sent.some((m) => (m.data as { kind: string }).kind === 'description')).toBe(true),
    );
    const pc = FakePeerConnection.all[0];
    expect(pc?.signalingState).toBe('stable');
    // We are the impolite side here (our id sorts after Ana's): we act every 1 s. (waitFor
    // advances the fake clock while the offer is verified, so the first may have happened.)
    expect(pc?.restarts).toBeLessThanOrEqual(1);
    await vi.advanceTimersByTimeAsync(2500);
    expect(pc?.restarts).toBe(2);
    expect(notices.filter(Boolean).at(-1)).toBe('Still connecting… trying again.');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(pc?.restarts).toBe(2);
    // Out of tries: the person is told why, not left on "Connecting…".
    expect(notices.at(-1)).toMatch(/^The call cannot connect: a firewall or network/);
    // And if it connects after all, the notice goes.
    pc?.setConnection('connected');
    expect(notices.at(-1)).toBeNull();
  });

  it('does not restart ICE once the first connection has connected', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { signaling, session } = setup([ANA], { offerWaitMs: 60_000, setupRetryMs: 1000 });
    await session.start();
    signaling.fire('signal', ANA, await signedOffer());
    await vi.waitFor(() => expect(FakePeerConnection.all[0]?.signalingState).toBe('stable'));
    const pc = FakePeerConnection.all[0];
    pc?.setConnection('connected');
    await vi.advanceTimersByTimeAsync(5000);
    expect(pc?.restarts).toBe(0);
  });

  it('as the newcomer, offers itself when no offer comes in time (an older client, a lost message)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { signaling, session } = setup([ANA], { offerWaitMs: 1500 });
    await session.start();
    await vi.advanceTimersByTimeAsync(1400);
    expect(FakePeerConnection.all[0]?.onnegotiationneeded).toBeNull();
    await vi.advanceTimersByTimeAsync(200);
    expect(FakePeerConnection.all).toHaveLength(1);
    FakePeerConnection.all[0]?.onnegotiationneeded?.();
    await vi.waitFor(() => expect(signaling.sent[0]?.to).toBe(ANA));
  });

  it('joins before the devices are ready and puts the microphone in when they are, without renegotiating', async () => {
    const { signaling, session } = setup([], { noStream: true });
    let devicesReady: (stream: MediaStream) => void = () => {};
    void session.start(new Promise<MediaStream>((resolve) => (devicesReady = resolve)));
    await settle();
    expect(session.status.state).toBe('waiting');
    signaling.fire('peerJoined', ANA);
    await vi.waitFor(() => expect(signaling.sent.length).toBeGreaterThan(0));
    const pc = FakePeerConnection.all[0];
    expect(pc?.transceivers[0]?.sender.track).toBeNull();
    expect(session.micOn).toBe(false);
    const offers = pc?.offers.length;
    devicesReady(micStream);
    await settle();
    expect(pc?.transceivers[0]?.sender.track).toBe(micTrack);
    expect(session.micOn).toBe(true);
    expect(pc?.offers.length).toBe(offers);
    expect(signaling.sent.filter((m) => (m.data as { kind: string }).kind === 'description')).toHaveLength(1);
  });

  it('makes no offer in advance once the call has ended', async () => {
    const { signaling, session } = setup();
    await session.start();
    await settle();
    session.hangUp();
    expect(FakePeerConnection.all[0]?.closed).toBe(true);
    signaling.fire('peerJoined', ANA);
    await settle();
    expect(FakePeerConnection.all).toHaveLength(1);
    expect(signaling.sent).toEqual([]);
  });

  it('refuses a description whose fingerprint was swapped and ends the call as unverified', async () => {
    const { signaling, session } = setup();
    await session.start();
    await settle();
    const offer = await signedOffer();
    offer.description.sdp = sdpWith(FP_EVIL);
    signaling.fire('signal', ANA, offer);
    await vi.waitFor(() => expect(session.status.state).toBe('ended'));
    expect(FakePeerConnection.all[0]?.remoteDescriptions).toEqual([]);
    expect(session.status).toEqual({
      state: 'ended',
      reason: 'unverified',
      message: 'This call could not be verified: the connection may be intercepted.',
    });
    expect(signaling.left).toBe(true);
    expect(FakePeerConnection.all[0]?.closed).toBe(true);
  });

  it('refuses a description signed without the link secret', async () => {
    const { signaling, session } = setup();
    await session.start();
    await settle();
    signaling.fire('signal', ANA, await signedOffer(FP, 'someone-else-entirely-wrong'));
    await vi.waitFor(() => expect(session.status.reason).toBe('unverified'));
  });

  it('drops malformed signals without ending the call', async () => {
    const { signaling, session } = setup();
    await session.start();
    await settle();
    signaling.fire('signal', ANA, { kind: 'description', description: { type: 'offer', sdp: 'v=0' } });
    signaling.fire('signal', ANA, '<script>');
    await settle();
    // Only the offer made in advance for the next comer exists; nothing was applied to it.
    expect(FakePeerConnection.all).toHaveLength(1);
    expect(FakePeerConnection.all[0]?.remoteDescriptions).toEqual([]);
    expect(session.status.state).toBe('waiting');
  });

  it('a newcomer that offers itself creates the connection with both data channels', async () => {
    const { signaling, session } = setup([ANA]);
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    expect(pc?.channels.map((c) => c.label)).toEqual(['control', 'files']);
    expect(pc?.channels[1]?.binaryType).toBe('arraybuffer');
    pc?.onnegotiationneeded?.();
    await vi.waitFor(() => expect(signaling.sent.length).toBeGreaterThan(0));
    const offer = signaling.sent.find((m) => (m.data as { kind: string }).kind === 'description');
    expect(offer?.to).toBe(ANA);
    expect(session.status.state).toBe('connecting');
  });

  it('keeps the call when the peer leaves signaling but stays connected; ends on bye', async () => {
    const { signaling, session } = setup([ANA]);
    const links: string[] = [];
    session.on('link', (l) => links.push(l.peerId));
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    pc?.setConnection('connected');
    for (const c of pc?.channels ?? []) c.openNow();
    expect(links).toEqual([ANA]);
    expect(pc?.channels[0]?.sent.map((s) => JSON.parse(s).t)).toEqual(['hello', 'media']);
    pc?.channels[0]?.message(JSON.stringify({ t: 'hello', name: 'Ana' }));
    expect(session.remotePeers[0]?.name).toBe('Ana');
    signaling.fire('peerLeft', ANA);
    await settle();
    expect(session.status.state).toBe('connected');
    pc?.channels[0]?.message('{"t":"bye"}');
    expect(session.status).toMatchObject({
      state: 'ended',
      reason: 'remote-hangup',
      message: 'Ana hung up.',
    });
  });

  it('loses the call after the connection stays disconnected past the grace period, restarting ICE meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const { session } = setup([ANA]);
    await session.start();
    await vi.advanceTimersByTimeAsync(10);
    const pc = FakePeerConnection.all[0];
    pc?.setConnection('connected');
    pc?.setConnection('disconnected');
    expect(session.status.state).toBe('reconnecting');
    pc?.setConnection('failed');
    expect(pc?.restarts).toBe(1);
    await vi.advanceTimersByTimeAsync(7000);
    expect(session.status.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1500);
    expect(session.status).toMatchObject({ state: 'ended', reason: 'lost', message: 'Connection lost' });
  });

  it('recovers when the connection comes back within the grace period', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const { session } = setup([ANA]);
    await session.start();
    await vi.advanceTimersByTimeAsync(10);
    const pc = FakePeerConnection.all[0];
    pc?.setConnection('connected');
    pc?.setConnection('disconnected');
    await vi.advanceTimersByTimeAsync(3000);
    pc?.setConnection('connected');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(session.status.state).toBe('connected');
  });

  it('hang up sends bye on both paths, closes connections and leaves signaling', async () => {
    const { signaling, session } = setup([ANA]);
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    pc?.setConnection('connected');
    for (const c of pc?.channels ?? []) c.openNow();
    session.hangUp();
    expect(pc?.channels[0]?.sent.at(-1)).toBe('{"t":"bye"}');
    expect(signaling.sent.at(-1)).toEqual({ to: ANA, data: { kind: 'bye' } });
    expect(signaling.left).toBe(true);
    expect(session.status).toMatchObject({ state: 'ended', reason: 'hangup' });
  });

  it('perfect negotiation: the impolite side ignores a colliding offer, the polite side accepts it', async () => {
    // We are MMM…; against AAA… we are impolite (the lower id is polite).
    const impolite = setup([ANA]);
    await impolite.session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    pc?.onnegotiationneeded?.();
    await settle();
    expect(pc?.signalingState).toBe('have-local-offer');
    impolite.signaling.fire('signal', ANA, await signedOffer());
    await settle();
    expect(pc?.remoteDescriptions).toEqual([]);
    expect(impolite.session.status.state).toBe('connecting');

    // Against ZZZ… we are polite: roll back our offer, take theirs, answer.
    const ZED = 'ZZZZZZZZZZZZZZZZZZZZZZ';
    const polite = setup([ZED]);
    await polite.session.start();
    await settle();
    const pc2 = FakePeerConnection.all[0];
    pc2?.onnegotiationneeded?.();
    await settle();
    polite.signaling.fire('signal', ZED, await signedOffer(FP, SECRET, ZED));
    await vi.waitFor(() => expect(polite.signaling.sent.length).toBe(2));
    expect(pc2?.remoteDescriptions.map((d) => d.type)).toEqual(['offer']);
    const sentTypes = polite.signaling.sent
      .map((m) => m.data as { kind: string; description?: { type: string } })
      .filter((d) => d.kind === 'description')
      .map((d) => d.description?.type);
    expect(sentTypes).toEqual(['offer', 'answer']);
  });

  it('restarts ICE when signaling comes back and the connection dropped meanwhile', async () => {
    const { signaling, session } = setup([ANA]);
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    pc?.setConnection('connected');
    pc!.iceConnectionState = 'disconnected';
    signaling.fire('joined', { room: ROOM, peerId: ME, peers: [ANA], iceServers: [], capacity: 2 });
    expect(pc?.restarts).toBe(1);
    expect(FakePeerConnection.all).toHaveLength(1);
  });

  it('after the server forgets both ids, the peers re-address each other over the data channel: no second connection', async () => {
    const NEW_ME = 'NNNNNNNNNNNNNNNNNNNNNN';
    const NEW_ANA = 'BBBBBBBBBBBBBBBBBBBBBB';
    const { signaling, session } = setup([ANA]);
    const removed: string[] = [];
    session.on('peerRemoved', (id) => removed.push(id));
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0];
    pc?.setConnection('connected');
    for (const c of pc?.channels ?? []) c.openNow();
    // The server restarted: our resume fails and we get a new id; Ana is back under a new id.
    signaling.fire('joined', { room: ROOM, peerId: NEW_ME, peers: [NEW_ANA], iceServers: [], capacity: 2 });
    expect(pc?.channels[0]?.sent.map((m) => JSON.parse(m))).toContainEqual({ t: 'peer-id', peerId: NEW_ME });
    expect(FakePeerConnection.all).toHaveLength(1);
    // Ana tells us her new id over the (DTLS-protected) control channel.
    pc?.channels[0]?.message(JSON.stringify({ t: 'peer-id', peerId: NEW_ANA }));
    // Her ICE-restart offer, signed under her new id, reaches the same connection.
    signaling.fire('signal', NEW_ANA, await signedOffer(FP, SECRET, NEW_ANA));
    await vi.waitFor(() => expect(pc?.remoteDescriptions).toHaveLength(1));
    expect(FakePeerConnection.all).toHaveLength(1);
    const answer = signaling.sent.at(-1);
    expect(answer?.to).toBe(NEW_ANA);
    expect(session.remotePeers.map((p) => p.peerId)).toEqual([ANA]);
    expect(removed).toEqual([]);
    expect(session.status.state).toBe('connected');
  });

  it('a full room is a clear end state', async () => {
    const { signaling, session } = setup();
    await session.start();
    signaling.fire('error', 'room-full', 'full');
    expect(session.status).toMatchObject({
      state: 'ended',
      reason: 'room-full',
      message: 'This call is full. Ask for a new link.',
    });
  });
});

describe('CallSession: the same person on a new connection (a re-mounted overlay)', () => {
  it('takes a verified offer with new fingerprints once the old connection is lost: same tile, same link resumed', async () => {
    const { signaling, session, pc, links, linkStates, closed, removed } = await connectedToAna();
    // Ana's overlay went away: her connection closed, so ours lost its data channels.
    pc.channels[0]?.closeNow();
    pc.channels[1]?.closeNow();
    expect(pc.closed).toBe(true);
    // Her link pauses (chat and transfers wait for the next connection); it is not closed.
    expect(closed).toEqual([]);
    expect(linkStates).toEqual(['paused']);
    expect(session.status.state).toBe('reconnecting');
    expect(session.remotePeers).toMatchObject([{ peerId: ANA, name: 'Ana', connection: 'reconnecting' }]);

    // Her re-mounted overlay offers, under the same signaling id, with a new certificate.
    const before = descriptions(signaling.sent).length;
    signaling.fire('signal', ANA, await signedOffer(FP_NEXT));
    signaling.fire('signal', ANA, {
      kind: 'candidate',
      candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.2 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 },
    });
    await vi.waitFor(() => expect(descriptions(signaling.sent).length).toBe(before + 1));
    expect(FakePeerConnection.all).toHaveLength(2);
    const next = FakePeerConnection.all[1]!;
    expect(next.remoteDescriptions.map((d) => d.sdp)).toEqual([sdpWith(FP_NEXT)]);
    await vi.waitFor(() => expect(next.candidates).toHaveLength(1));
    const answer = descriptions(signaling.sent).at(-1)!;
    expect(answer.to).toBe(ANA);
    expect(answer.data.description?.type).toBe('answer');

    next.setConnection('connected');
    for (const c of next.channels) c.openNow();
    expect(session.status.state).toBe('connected');
    // The same link, re-attached to the new connection's channels.
    expect(links).toEqual([ANA]);
    expect(linkStates).toEqual(['paused', 'open']);
    expect(removed).toEqual([]);
    expect(session.remotePeers).toMatchObject([{ peerId: ANA, name: 'Ana', connection: 'connected' }]);
  });

  it('a page that went without a bye and comes back under the same id (a reloaded guest page) continues the call', async () => {
    const { signaling, session, pc, links, linkStates, closed, removed } = await connectedToAna();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // Ana's page unloads: her channels close and the server says her socket went.
    for (const c of pc.channels) c.closeNow();
    signaling.fire('peerLeft', ANA);
    await vi.advanceTimersByTimeAsync(RETURN_WAIT_MS - 500);
    expect(session.status.state).toBe('reconnecting');
    // Her reloaded page resumes her id, then offers from a new connection (new certificate).
    signaling.fire('peerJoined', ANA);
    const before = descriptions(signaling.sent).length;
    signaling.fire('signal', ANA, await signedOffer(FP_NEXT));
    await vi.waitFor(() => expect(descriptions(signaling.sent).length).toBe(before + 1));
    // Past the wait for her return, and most of the grace period: still waiting for it.
    await vi.advanceTimersByTimeAsync(7000);
    expect(session.status.state).toBe('reconnecting');
    const next = FakePeerConnection.all.at(-1)!;
    expect(next.remoteDescriptions.map((d) => d.sdp)).toEqual([sdpWith(FP_NEXT)]);
    next.setConnection('connected');
    for (const c of next.channels) c.openNow();
    expect(session.status.state).toBe('connected');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(session.status.state).toBe('connected');
    expect(links).toEqual([ANA]);
    expect(linkStates).toEqual(['paused', 'open']);
    expect(closed).toEqual([]);
    expect(removed).toEqual([]);
    expect(session.remotePeers).toMatchObject([{ peerId: ANA, name: 'Ana', connection: 'connected' }]);
  });

  it('a page that went without a bye and does not come back (a closed tab) ends a call of two', async () => {
    const { signaling, session, pc, closed } = await connectedToAna();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // The server first this time, then her channels.
    signaling.fire('peerLeft', ANA);
    for (const c of pc.channels) c.closeNow();
    await vi.advanceTimersByTimeAsync(RETURN_WAIT_MS - 100);
    expect(session.status.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    expect(session.status).toMatchObject({ state: 'ended', reason: 'lost', message: 'Connection lost' });
    expect(closed).toEqual([[ANA, 'left']]);
  });

  it('one who came back but whose new connection never comes is lost after the grace period', async () => {
    const { signaling, session, pc } = await connectedToAna();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    for (const c of pc.channels) c.closeNow();
    signaling.fire('peerLeft', ANA);
    await vi.advanceTimersByTimeAsync(3000);
    signaling.fire('peerJoined', ANA);
    // Her id is back, but no offer: we (the impolite side) offer after 1.5 s; it never connects
    // within the grace period.
    await vi.advanceTimersByTimeAsync(1500);
    expect(FakePeerConnection.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(7900);
    expect(session.status.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(200);
    expect(session.status).toMatchObject({ state: 'ended', reason: 'lost' });
  });

  it('does not replace a working connection with an offer carrying new fingerprints', async () => {
    const { signaling, session, pc, closed } = await connectedToAna();
    const before = descriptions(signaling.sent).length;
    // A genuine offer from another of Ana's connections, replayed by the server, say.
    signaling.fire('signal', ANA, await signedOffer(FP_NEXT));
    await settle();
    expect(FakePeerConnection.all).toHaveLength(1);
    expect(pc.remoteDescriptions).toHaveLength(1);
    expect(pc.closed).toBe(false);
    expect(descriptions(signaling.sent)).toHaveLength(before);
    expect(closed).toEqual([]);
    expect(session.status.state).toBe('connected');
  });

  it('keeps such an offer aside, and takes it if the working connection fails soon after', async () => {
    // The close of our data channels can be lost on the network: then only ICE notices.
    const { signaling, session, pc, closed } = await connectedToAna();
    signaling.fire('signal', ANA, await signedOffer(FP_NEXT));
    await settle();
    expect(FakePeerConnection.all).toHaveLength(1);
    pc.setConnection('disconnected');
    await vi.waitFor(() => expect(FakePeerConnection.all).toHaveLength(2));
    expect(pc.closed).toBe(true);
    expect(closed).toEqual([]);
    const next = FakePeerConnection.all[1]!;
    await vi.waitFor(() =>
      expect(descriptions(signaling.sent).at(-1)?.data.description?.type).toBe('answer'),
    );
    expect(next.remoteDescriptions.map((d) => d.sdp)).toEqual([sdpWith(FP_NEXT)]);
    next.setConnection('connected');
    expect(session.status.state).toBe('connected');
  });

  it('refuses a forged offer (wrong MAC) for a known peer, working or lost, and the call goes on', async () => {
    const { signaling, session, pc } = await connectedToAna();
    signaling.fire('signal', ANA, await signedOffer(FP_NEXT, 'not-the-link-secret-at-all'));
    await settle();
    expect(session.status.state).toBe('connected');
    expect(pc.remoteDescriptions).toHaveLength(1);

    pc.channels[0]?.closeNow();
    signaling.fire('signal', ANA, await signedOffer(FP_NEXT, 'not-the-link-secret-at-all'));
    await settle();
    expect(FakePeerConnection.all).toHaveLength(1);
    expect(session.status.state).toBe('reconnecting');
    // The real one still gets through.
    signaling.fire('signal', ANA, await signedOffer(FP_NEXT));
    await vi.waitFor(() => expect(FakePeerConnection.all).toHaveLength(2));
    expect(FakePeerConnection.all[1]?.remoteDescriptions).toHaveLength(1);
  });

  it('a lost connection: an offer with the same certificate but a new SDP session (their redial in a contact call) replaces it', async () => {
    const { signaling, pc, linkStates } = await connectedToAna();
    for (const c of pc.channels) c.closeNow();
    const sdp = sdpWith(FP).replace('v=0\r\n', 'v=0\r\no=- 5550001 2 IN IP4 127.0.0.1\r\n');
    signaling.fire('signal', ANA, {
      kind: 'description',
      description: { type: 'offer', sdp },
      auth: await signDescription(await deriveAuthKey(SECRET), ANA, sdp),
    });
    await vi.waitFor(() => expect(FakePeerConnection.all).toHaveLength(2));
    const next = FakePeerConnection.all[1]!;
    expect(next.remoteDescriptions.map((d) => d.sdp)).toEqual([sdp]);
    next.setConnection('connected');
    for (const c of next.channels) c.openNow();
    expect(linkStates).toEqual(['paused', 'open']);
  });

  it('ignores an offer with the old fingerprints for a lost connection', async () => {
    const { signaling, pc } = await connectedToAna();
    pc.channels[0]?.closeNow();
    signaling.fire('signal', ANA, await signedOffer(FP));
    await settle();
    expect(FakePeerConnection.all).toHaveLength(1);
    expect(pc.remoteDescriptions).toHaveLength(1);
  });

  it('a lost connection that nobody replaces ends as lost after the grace period; a bye ends it at once', async () => {
    const lost = await connectedToAna();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    lost.pc.channels[0]?.closeNow();
    // Both of us still in the call: we (the impolite side) offer a new connection; it never connects.
    await vi.advanceTimersByTimeAsync(1500);
    expect(FakePeerConnection.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(7000);
    expect(lost.session.status.state).toBe('reconnecting');
    expect(lost.closed).toEqual([]);
    expect(lost.linkStates).toEqual(['paused']);
    await vi.advanceTimersByTimeAsync(1500);
    expect(lost.session.status).toMatchObject({ state: 'ended', reason: 'lost', message: 'Connection lost' });
    // Only now is the link closed for good (the panels interrupt what was paused).
    expect(lost.closed).toEqual([[ANA, 'lost']]);
    expect(lost.linkStates).toEqual(['paused', 'closed']);
    vi.useRealTimers();

    // Ana's tab closed: her service worker says bye through signaling for her.
    const bye = await connectedToAna();
    bye.pc.channels[0]?.closeNow();
    bye.signaling.fire('signal', ANA, { kind: 'bye' });
    await vi.waitFor(() =>
      expect(bye.session.status).toMatchObject({
        state: 'ended',
        reason: 'remote-hangup',
        message: 'Ana hung up.',
      }),
    );
  });

  it('a connection whose channels close with both still in the call: the impolite side offers a new one and the same link resumes', async () => {
    const { signaling, session, pc, links, linkStates, closed } = await connectedToAna();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    for (const c of pc.channels) c.closeNow();
    expect(session.status.state).toBe('reconnecting');
    // Ana's page is not new, so she does not offer; we wait a moment for her, then offer.
    await vi.advanceTimersByTimeAsync(1400);
    expect(FakePeerConnection.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(FakePeerConnection.all).toHaveLength(2);
    vi.useRealTimers();
    const next = FakePeerConnection.all[1]!;
    const before = descriptions(signaling.sent).length;
    next.onnegotiationneeded?.();
    await vi.waitFor(() => expect(descriptions(signaling.sent).length).toBe(before + 1));
    const offer = descriptions(signaling.sent).at(-1)!;
    expect([offer.to, offer.data.description?.type]).toEqual([ANA, 'offer']);
    signaling.fire('signal', ANA, await signedAnswer(FP_NEXT));
    await vi.waitFor(() => expect(next.remoteDescriptions).toHaveLength(1));
    next.setConnection('connected');
    for (const c of next.channels) c.openNow();
    expect(session.status.state).toBe('connected');
    expect(links).toEqual([ANA]);
    expect(linkStates).toEqual(['paused', 'open']);
    expect(closed).toEqual([]);
  });

  it('a replacement that does not connect within the grace period is lost', async () => {
    const { signaling, session, pc } = await connectedToAna();
    const offer = await signedOffer(FP_NEXT);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    pc.channels[0]?.closeNow();
    await vi.advanceTimersByTimeAsync(2000);
    signaling.fire('signal', ANA, offer);
    // (waitFor advances the fake clock a little while the real crypto runs)
    await vi.waitFor(() => expect(FakePeerConnection.all).toHaveLength(2));
    // The new connection has a whole grace period of its own to connect.
    await vi.advanceTimersByTimeAsync(7000);
    expect(session.status.state).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(1500);
    expect(session.status).toMatchObject({ state: 'ended', reason: 'lost' });
  });

  it('detach (the page is going away, the call is not): no bye, no leave, connections closed', async () => {
    const { signaling, session, pc } = await connectedToAna();
    const sent = signaling.sent.length;
    session.detach();
    expect(pc.closed).toBe(true);
    expect(pc.channels[0]?.sent.map((m) => JSON.parse(m).t)).not.toContain('bye');
    expect(signaling.sent).toHaveLength(sent);
    expect(signaling.left).toBe(false);
    expect(session.status.state).toBe('ended');
  });

  it('a re-mounted overlay (rejoin) offers to the peers at once instead of waiting for their offer', async () => {
    const { signaling, session } = setup([ANA], { offerWaitMs: 60_000, rejoin: true });
    await session.start();
    await settle();
    const pc = FakePeerConnection.all[0]!;
    expect(pc.channels.map((c) => c.label)).toEqual(['control', 'files']);
    pc.onnegotiationneeded?.();
    await vi.waitFor(() => expect(descriptions(signaling.sent)[0]?.to).toBe(ANA));
    expect(descriptions(signaling.sent)[0]?.data.description?.type).toBe('offer');
  });
});

describe('CallSession: description authentication is pluggable', () => {
  /** A stand-in for identity-signed calls: each sender has a token of its own. */
  const tokenOf = (id: string) => id.slice(0, 1).repeat(43);
  const byToken: DescriptionAuth = {
    ready: Promise.resolve(),
    sign: async (senderId) => tokenOf(senderId),
    verify: async (senderId, _sdp, auth) => auth === tokenOf(senderId),
  };

  async function joinedWith(auth: DescriptionAuth) {
    FakePeerConnection.all = [];
    const signaling = new FakeSignaling({
      room: ROOM,
      peerId: ME,
      peers: [ANA],
      iceServers: [],
      capacity: 2,
    });
    const session = new CallSession({
      auth,
      offerWaitMs: 60_000,
      signaling,
      room: ROOM,
      secret: SECRET,
      media: 'audio',
      localName: 'Me',
      localStream: micStream,
      listenPageHide: false,
      createPeerConnection: (config) => new FakePeerConnection(config) as unknown as RTCPeerConnection,
    });
    await session.start();
    await settle();
    return { signaling, session };
  }

  it('signs and verifies with the implementation it is given', async () => {
    const { signaling, session } = await joinedWith(byToken);
    const sdp = sdpWith(FP);
    signaling.fire('signal', ANA, {
      kind: 'description',
      description: { type: 'offer', sdp },
      auth: tokenOf(ANA),
    });
    await vi.waitFor(() => expect(descriptions(signaling.sent)).toHaveLength(1));
    const answer = signaling.sent[0]?.data as { description: { type: string }; auth: string };
    expect(answer.description.type).toBe('answer');
    expect(answer.auth).toBe(tokenOf(ME));
    expect(session.status.state).toBe('connecting');
  });

  it('refuses what that implementation refuses, even a valid link-secret MAC', async () => {
    const { signaling, session } = await joinedWith(byToken);
    signaling.fire('signal', ANA, await signedOffer());
    await vi.waitFor(() => expect(session.status.reason).toBe('unverified'));
    expect(FakePeerConnection.all[0]?.remoteDescriptions).toEqual([]);
  });
});

describe('CallSession: a call between contacts (IdentitySignedAuth)', () => {
  async function contactCall() {
    const [alice, bob] = await Promise.all([identityFromSeed(ALICE_SEED), identityFromSeed(BOB_SEED)]);
    // We are Bob; Ana (signaling id ANA) is the contact whose key Bob pinned.
    const auth = new IdentitySignedAuth({
      callId: CALL_ID,
      selfKey: BOB_KEY,
      peerKey: ALICE_KEY,
      peerName: 'Ana',
      sign: (senderId, sdp) =>
        signCallDescription(bob, { callId: CALL_ID, senderPeerId: senderId, recipientKey: ALICE_KEY, sdp }),
    });
    FakePeerConnection.all = [];
    const signaling = new FakeSignaling({
      room: ROOM,
      peerId: ME,
      peers: [ANA],
      iceServers: [],
      capacity: 2,
    });
    const session = new CallSession({
      auth,
      offerWaitMs: 60_000,
      signaling,
      room: ROOM,
      secret: SECRET,
      media: 'audio',
      localName: 'Bob',
      localStream: micStream,
      listenPageHide: false,
      createPeerConnection: (config) => new FakePeerConnection(config) as unknown as RTCPeerConnection,
    });
    await session.start();
    await settle();
    const offerFrom = async (signer: typeof alice, fp: string, signedFp = fp) => ({
      kind: 'description',
      description: { type: 'offer', sdp: sdpWith(fp) },
      auth: `${signer.publicKey}.${await signCallDescription(signer, {
        callId: CALL_ID,
        senderPeerId: ANA,
        recipientKey: BOB_KEY,
        sdp: sdpWith(signedFp),
      })}`,
    });
    return { signaling, session, alice, offerFrom };
  }

  it("answers an offer signed by the contact's pinned key, signing its answer with ours", async () => {
    const { signaling, session, alice, offerFrom } = await contactCall();
    signaling.fire('signal', ANA, await offerFrom(alice, FP));
    await vi.waitFor(() => expect(descriptions(signaling.sent)).toHaveLength(1));
    const answer = signaling.sent[0]?.data as { description: { type: string; sdp: string }; auth: string };
    expect(answer.description.type).toBe('answer');
    const [key, sig] = answer.auth.split('.');
    expect(key).toBe(BOB_KEY);
    const binding = {
      callId: CALL_ID,
      senderPeerId: ME,
      recipientKey: ALICE_KEY,
      sdp: answer.description.sdp,
    };
    expect(await verifyCallDescription(BOB_KEY, binding, sig ?? '')).toBe(true);
    expect(session.status.state).toBe('connecting');
  });

  it('refuses a swapped fingerprint before applying anything', async () => {
    const { signaling, session, alice, offerFrom } = await contactCall();
    signaling.fire('signal', ANA, await offerFrom(alice, FP_EVIL, FP));
    await vi.waitFor(() => expect(session.status.reason).toBe('unverified'));
    expect(session.status.message).toMatch(/could not be verified/);
    expect(FakePeerConnection.all[0]?.remoteDescriptions).toEqual([]);
  });

  it('ends with "Ana\'s key changed: …" when another key signed the offer', async () => {
    const { signaling, session, offerFrom } = await contactCall();
    const other = await identityFromSeed(new Uint8Array(32).fill(7));
    signaling.fire('signal', ANA, await offerFrom(other, FP_EVIL));
    await vi.waitFor(() => expect(session.status.reason).toBe('unverified'));
    expect(session.status.message).toBe(keyChangedText('Ana'));
    expect(FakePeerConnection.all[0]?.remoteDescriptions).toEqual([]);
  });
});

describe('CallSession: more than two people', () => {
  const BEA = 'BBBBBBBBBBBBBBBBBBBBBB';

  it('a newcomer to a room of two answers each person on a connection of its own, and sees both', async () => {
    const { signaling, session } = setup([ANA, BEA], { offerWaitMs: 60_000, capacity: 6 });
    await session.start();
    await settle();
    signaling.fire('signal', ANA, await signedOffer(FP, SECRET, ANA));
    signaling.fire('signal', BEA, await signedOffer(FP_NEXT, SECRET, BEA));
    await vi.waitFor(() => expect(descriptions(signaling.sent)).toHaveLength(2));
    expect(descriptions(signaling.sent).map((d) => [d.to, d.data.description?.type])).toEqual([
      [ANA, 'answer'],
      [BEA, 'answer'],
    ]);
    expect(FakePeerConnection.all).toHaveLength(2);
    const [pcAna, pcBea] = FakePeerConnection.all;
    expect(pcAna?.remoteDescriptions.map((d) => d.sdp)).toEqual([sdpWith(FP)]);
    expect(pcBea?.remoteDescriptions.map((d) => d.sdp)).toEqual([sdpWith(FP_NEXT)]);
    pcAna?.setConnection('connected');
    pcBea?.setConnection('connected');
    expect(session.remotePeers.map((p) => [p.peerId, p.connection])).toEqual([
      [ANA, 'connected'],
      [BEA, 'connected'],
    ]);
  });

  it('one person leaving a call of three leaves the call on with the other', async () => {
    const { signaling, session } = setup([ANA, BEA], { offerWaitMs: 60_000, capacity: 6 });
    const removed: string[] = [];
    session.on('peerRemoved', (id) => removed.push(id));
    await session.start();
    await settle();
    signaling.fire('signal', ANA, await signedOffer(FP, SECRET, ANA));
    signaling.fire('signal', BEA, await signedOffer(FP_NEXT, SECRET, BEA));
    await vi.waitFor(() => expect(FakePeerConnection.all).toHaveLength(2));
    for (const pc of FakePeerConnection.all) pc.setConnection('connected');
    signaling.fire('signal', ANA, { kind: 'bye' });
    await vi.waitFor(() => expect(removed).toEqual([ANA]));
    expect(session.status.state).toBe('connected');
    expect(session.remotePeers.map((p) => p.peerId)).toEqual([BEA]);
    expect(FakePeerConnection.all[1]?.closed).toBe(false);
  });

  it('someone already in the call offers to each newcomer, the first with the prepared offer', async () => {
    const { signaling, session, auth } = setup([], { capacity: 6, groupOfferDelayMs: 60_000 });
    await session.start();
    await auth.firstSigned;
    await settle();
    signaling.fire('peerJoined', ANA);
    expect(descriptions(signaling.sent).map((d) => d.to)).toEqual([ANA]);
    FakePeerConnection.all[0]?.setConnection('connected');
    signaling.fire('peerJoined', BEA);
    // No prepared offer yet (it is made a while after someone arrived): a connection of its
    // own, offering when it must.
    expect(FakePeerConnection.all).toHaveLength(2);
    FakePeerConnection.all[1]?.onnegotiationneeded?.();
    await vi.waitFor(() => expect(descriptions(signaling.sent).map((d) => d.to)).toEqual([ANA, BEA]));
    expect(session.remotePeers.map((p) => p.peerId)).toEqual([ANA, BEA]);
  });

  it('in a call with room for more, prepares and parks the next offer a moment after someone arrived; the next newcomer gets it', async () => {
    const { signaling, session, auth } = setup([], { capacity: 6, groupOfferDelayMs: 200, canPark: true });
    await session.start();
    await auth.firstSigned;
    FakePeerConnection.all[0]?.onicecandidate?.({ candidate: null });
    await vi.waitFor(() => expect(signaling.parkedLog.filter((d) => d !== null)).toHaveLength(1));
    signaling.fire('peerJoined', ANA, true);
    FakePeerConnection.all[0]?.setConnection('connected');
    // A second prepared connection, signed and parked for whoever comes after Ana.
    await vi.waitFor(() => expect(FakePeerConnection.all).toHaveLength(2));
    await settle();
    FakePeerConnection.all[1]?.onicecandidate?.({ candidate: null });
    await vi.waitFor(() => expect(signaling.parkedLog.filter((d) => d !== null)).toHaveLength(2));
    const parked = signaling.parkedLog.at(-1) as { description: { sdp: string } };
    expect(parked.description.sdp).toBe(FakePeerConnection.all[1]?.localDescription?.sdp);
    signaling.fire('peerJoined', BEA, true);
    // Handed over by the server: adopted for Bea, not sent again, no third connection.
    await settle();
    expect(FakePeerConnection.all).toHaveLength(2);
    expect(descriptions(signaling.sent)).toEqual([]);
    expect(session.remotePeers.map((p) => p.peerId)).toEqual([ANA, BEA]);
    session.dispose();
  });

  it('in a full room, prepares nothing for a next person', async () => {
    const { signaling, session } = setup([ANA, BEA], {
      capacity: 3,
      groupOfferDelayMs: 10,
      offerWaitMs: 60_000,
    });
    await session.start();
    await settle();
    signaling.fire('signal', ANA, await signedOffer(FP, SECRET, ANA));
    signaling.fire('signal', BEA, await signedOffer(FP_NEXT, SECRET, BEA));
    await vi.waitFor(() => expect(FakePeerConnection.all).toHaveLength(2));
    for (const pc of FakePeerConnection.all) pc.setConnection('connected');
    await new Promise((r) => setTimeout(r, 60));
    expect(FakePeerConnection.all).toHaveLength(2);
    expect(signaling.parkedLog).toEqual([]);
    session.dispose();
  });

  it('pairwise glare, two people joining at once: one connection per pair, the impolite side keeps its offer, the polite one answers', async () => {
    // We (MMM…) are in a call; Bea (BBB…, polite towards us) and Zed (ZZZ…, towards whom we
    // are polite) join at the same moment. We offer to each; each, not seeing our offer in
    // time, offers too. The offers cross.
    const ZED = 'ZZZZZZZZZZZZZZZZZZZZZZ';
    const { signaling, session } = setup([], { capacity: 6, groupOfferDelayMs: 60_000 });
    await session.start();
    await settle();
    signaling.fire('peerJoined', BEA);
    signaling.fire('peerJoined', ZED);
    await settle();
    const pcs = [...FakePeerConnection.all];
    expect(pcs).toHaveLength(2);
    for (const pc of pcs) {
      if (pc.signalingState === 'stable') pc.onnegotiationneeded?.();
    }
    await vi.waitFor(() =>
      expect(
        descriptions(signaling.sent)
          .map((d) => d.to)
          .sort(),
      ).toEqual([BEA, ZED]),
    );
    const pcOf = (id: string) => session.remotePeers.findIndex((p) => p.peerId === id);
    const pcBea = FakePeerConnection.all[pcOf(BEA)]!;
    const pcZed = FakePeerConnection.all[pcOf(ZED)]!;
    expect(pcBea.signalingState).toBe('have-local-offer');
    expect(pcZed.signalingState).toBe('have-local-offer');
    signaling.fire('signal', BEA, await signedOffer(FP_NEXT, SECRET, BEA));
    signaling.fire('signal', ZED, await signedOffer(FP_NEXT, SECRET, ZED));
    // Zed's offer wins over ours (we are polite towards Zed): answered on the same connection.
    await vi.waitFor(() =>
      expect(descriptions(signaling.sent).map((d) => [d.to, d.data.description?.type])).toContainEqual([
        ZED,
        'answer',
      ]),
    );
    // Bea's is ignored (she is polite towards us and answers ours): nothing sent to her but our
    // offer, sent again (her offer says she may not have it; a copy is harmless).
    const toBea = descriptions(signaling.sent).filter((d) => d.to === BEA);
    expect(toBea.map((d) => d.data.description?.type)).toEqual(['offer', 'offer']);
    expect(toBea[1]?.data.description?.sdp).toBe(toBea[0]?.data.description?.sdp);
    expect(pcBea.remoteDescriptions).toEqual([]);
    signaling.fire('signal', BEA, await signedAnswer(FP_NEXT, BEA));
    await vi.waitFor(() => expect(pcBea.remoteDescriptions.map((d) => d.type)).toEqual(['answer']));
    pcBea.setConnection('connected');
    pcZed.setConnection('connected');
    // One connection per person, both up, nobody dropped.
    expect(FakePeerConnection.all).toHaveLength(2);
    expect(session.remotePeers.map((p) => [p.peerId, p.connection]).sort()).toEqual([
      [BEA, 'connected'],
      [ZED, 'connected'],
    ]);
    session.dispose();
  });

  it('someone whose tab closed (channels closed, no bye) is gone once the server says they left and they did not come back, in either order', async () => {
    const { signaling, session } = setup([ANA, BEA], { offerWaitMs: 60_000, capacity: 6 });
    const removed: Array<[string, string]> = [];
    session.on('peerRemoved', (id, reason) => removed.push([id, reason]));
    await session.start();
    await settle();
    signaling.fire('signal', ANA, await signedOffer(FP, SECRET, ANA));
    signaling.fire('signal', BEA, await signedOffer(FP_NEXT, SECRET, BEA));
    await vi.waitFor(() => expect(FakePeerConnection.all.map((pc) => pc.channels.length)).toEqual([2, 2]));
    for (const pc of FakePeerConnection.all) {
      pc.setConnection('connected');
      for (const c of pc.channels) c.openNow();
    }
    const [pcAna, pcBea] = FakePeerConnection.all as [FakePeerConnection, FakePeerConnection];
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    // Ana: channels first (reconnecting: she may be a re-mounted overlay), then the server.
    for (const c of pcAna.channels) c.closeNow();
    expect(session.remotePeers.find((p) => p.peerId === ANA)?.connection).toBe('reconnecting');
    expect(removed).toEqual([]);
    signaling.fire('peerLeft', ANA);
    // Her page may be reloading: it gets RETURN_WAIT_MS to come back under her id.
    await vi.advanceTimersByTimeAsync(RETURN_WAIT_MS - 100);
    expect(removed).toEqual([]);
    expect(session.remotePeers.find((p) => p.peerId === ANA)?.connection).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(100);
    expect(removed).toEqual([[ANA, 'left']]);
    // Bea: the server first (her worker may be restarting: she stays), then her channels.
    signaling.fire('peerLeft', BEA);
    await vi.advanceTimersByTimeAsync(RETURN_WAIT_MS);
    expect(removed).toHaveLength(1);
    for (const c of pcBea.channels) c.closeNow();
    await vi.advanceTimersByTimeAsync(RETURN_WAIT_MS - 100);
    expect(removed).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(removed).toEqual([
      [ANA, 'left'],
      [BEA, 'left'],
    ]);
    session.dispose();
  });
});
