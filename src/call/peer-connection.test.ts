/**
 * One connection's negotiation, candidates, link and close, on a fake RTCPeerConnection
 * (test/helpers/fake-webrtc.ts). The call-level decisions are in session.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { FakePeerConnection, FP, sdpWith } from '../../test/helpers/fake-webrtc.ts';
import type { PeerSignal } from '../protocol/peer-signal.ts';
import { LinkSecretAuth } from './description-auth.ts';
import { LocalTracks } from './local-tracks.ts';
import { type ConnectionHooks, candidateKey, PeerConnection } from './peer-connection.ts';
import { fingerprintLines } from './verify.ts';

const SECRET = 'the-link-secret-the-link-secret';
const ME = 'MMMMMMMMMMMMMMMMMMMMMM';

function connection(options: { polite?: boolean; tracks?: LocalTracks; config?: RTCConfiguration } = {}) {
  const fake = new FakePeerConnection(options.config ?? {});
  const sent: PeerSignal[] = [];
  const events: string[] = [];
  const auth = new LinkSecretAuth(SECRET);
  const hooks: ConnectionHooks = {
    auth,
    send: (signal) => sent.push(signal),
    selfId: () => ME,
    polite: () => options.polite ?? false,
    track: () => events.push('track'),
    stateChanged: () => events.push(`state:${fake.connectionState}`),
    linkOpened: () => events.push('link'),
    linkClosed: () => events.push('link-closed'),
    remoteRestart: () => events.push('remote-restart'),
    control: (data) => events.push(`control:${String(data)}`),
  };
  const tracks = options.tracks ?? new LocalTracks('audio');
  const conn = new PeerConnection(fake as unknown as RTCPeerConnection, hooks, tracks);
  return { fake, conn, sent, events, auth };
}

const offer = { type: 'offer' as const, sdp: sdpWith(FP) };
const fingerprints = fingerprintLines(offer.sdp).join('\n');
const hostCandidate = {
  candidate: 'candidate:1 1 udp 1 10.0.0.2 5000 typ host',
  sdpMid: '0',
  sdpMLineIndex: 0,
};

describe('PeerConnection', () => {
  it('keeps remote candidates that come before the remote description, and applies them after it', async () => {
    const { fake, conn, sent, auth } = connection();
    await conn.addCandidate(hostCandidate);
    expect(fake.candidates).toEqual([]);
    await conn.accept(offer, fingerprints);
    expect(fake.candidates).toEqual([hostCandidate]);
    // The offer got a signed answer, with our tracks and channels on the connection.
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    const answer = sent[0] as Extract<PeerSignal, { kind: 'description' }>;
    expect(answer.description.type).toBe('answer');
    expect(await auth.verify(ME, answer.description.sdp, answer.auth)).toBe(true);
    expect(conn.phase).toBe('opening');
    expect(fake.channels.map((c) => c.label)).toEqual(['control', 'files']);
    expect(conn.remoteFingerprints).toBe(fingerprints);
  });

  it('as the impolite side ignores an offer that collides with its own', async () => {
    const { fake, conn } = connection({ polite: false });
    conn.attach();
    fake.onnegotiationneeded?.();
    await vi.waitFor(() => expect(fake.signalingState).toBe('have-local-offer'));
    await conn.accept(offer, fingerprints);
    expect(fake.remoteDescriptions).toEqual([]);
  });

  it('opens the link once both data channels are open, with a frame size the connection allows', () => {
    const { fake, conn, events } = connection();
    conn.attach();
    expect(conn.dataLink('key', () => 'Ana')).toBeNull();
    fake.channels[0]?.openNow();
    expect(events).toEqual([]);
    fake.sctp.maxMessageSize = 65_536;
    fake.channels[1]?.openNow();
    expect(events).toEqual(['link']);
    expect(conn.phase).toBe('open');
    expect(conn.dataLink('key', () => 'Ana')).toMatchObject({ peerId: 'key', maxMessageSize: 65_536 });
    fake.channels[0]?.message('{"t":"hello","name":"Ana"}');
    fake.channels[1]?.closeNow();
    expect(events).toEqual(['link', 'control:{"t":"hello","name":"Ana"}', 'link-closed']);
  });

  it('closed here: no more events, no more signals, and our tracks no longer go to it', async () => {
    const tracks = new LocalTracks('audio');
    const { fake, conn, sent, events } = connection({ tracks });
    const other = connection({ tracks });
    conn.attach();
    other.conn.attach();
    conn.close();
    conn.close();
    expect(fake.closed).toBe(true);
    expect(conn.phase).toBe('closed');
    fake.channels[0]?.closeNow();
    await conn.addCandidate(hostCandidate);
    expect(events).toEqual([]);
    expect(sent).toEqual([]);
    const mic = { kind: 'audio', enabled: true, stop() {} } as unknown as MediaStreamTrack;
    tracks.use({ getTracks: () => [mic], getAudioTracks: () => [mic], getVideoTracks: () => [] } as never);
    await Promise.resolve();
    expect(other.fake.transceivers[0]?.sender.track).toBe(mic);
    expect(fake.transceivers[0]?.sender.track).toBeNull();
  });

  it('with a TURN server, uses their private host candidates only from our own subnet', async () => {
    const { fake, conn } = connection({ config: { iceServers: [{ urls: 'turn:198.51.100.20:3478' }] } });
    await conn.accept(offer, fingerprints);
    const mine = 'candidate:9 1 udp 2122260223 10.0.0.7 4000 typ host generation 0';
    await conn.addCandidate(hostCandidate); // 10.0.0.2: held until we know our own
    expect(fake.candidates).toEqual([]);
    fake.onicecandidate?.({ candidate: { candidate: mine, toJSON: () => ({ candidate: mine }) } });
    expect(fake.candidates).toEqual([hostCandidate]);
    fake.onicecandidate?.({ candidate: null });
    const elsewhere = { ...hostCandidate, candidate: 'candidate:2 1 udp 1 10.2.0.2 5000 typ host' };
    await conn.addCandidate(elsewhere);
    expect(fake.candidates).toEqual([hostCandidate]);
  });

  it('tells when the other side restarts ICE (an offer with new credentials)', async () => {
    const { conn, events } = connection({ polite: true });
    await conn.accept({ type: 'offer', sdp: `${offer.sdp}a=ice-ufrag:one\r\n` }, fingerprints);
    await conn.accept({ type: 'offer', sdp: `${offer.sdp}a=ice-ufrag:one\r\n` }, fingerprints);
    expect(events).toEqual([]);
    await conn.accept({ type: 'offer', sdp: `${offer.sdp}a=ice-ufrag:two\r\n` }, fingerprints);
    expect(events).toEqual(['remote-restart']);
  });

  it('sends an unanswered offer again (2.5 s, then 5 s…) until its answer comes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { fake, conn, sent } = connection();
      conn.attach();
      fake.onnegotiationneeded?.();
      // (Signing is real WebCrypto: wait for it; vi.waitFor moves the fake clock 50 ms a try.)
      await vi.waitFor(() => expect(sent).toHaveLength(1));
      await vi.advanceTimersByTimeAsync(2_500);
      await vi.waitFor(() => expect(sent).toHaveLength(2));
      await vi.advanceTimersByTimeAsync(4_500);
      expect(sent).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(1_000);
      await vi.waitFor(() => expect(sent).toHaveLength(3));
      const again = sent.map((s) => (s as Extract<PeerSignal, { kind: 'description' }>).description);
      expect(again.map((d) => d.type)).toEqual(['offer', 'offer', 'offer']);
      expect(new Set(again.map((d) => d.sdp)).size).toBe(1);
      // Our signaling came back: at once, not on the schedule.
      conn.resendOffer();
      await vi.waitFor(() => expect(sent).toHaveLength(4));
      await conn.accept({ type: 'answer', sdp: `${offer.sdp}o=- 7 2 IN IP4 0.0.0.0\r\n` }, fingerprints);
      conn.resendOffer();
      await vi.advanceTimersByTimeAsync(20_000);
      expect(sent).toHaveLength(4);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a copy of an offer applied already is answered again, not applied again; stale answers are dropped', async () => {
    const { fake, conn, sent } = connection({ polite: true });
    const first = { type: 'offer' as const, sdp: `${offer.sdp}o=- 42 2 IN IP4 0.0.0.0\r\n` };
    await conn.accept(first, fingerprints);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    // The same offer again, now with a candidate (both may have been lost in a dead socket).
    const candidate = 'candidate:1 1 udp 2122260223 192.0.2.9 5000 typ host';
    await conn.accept({ ...first, sdp: `${first.sdp}a=${candidate}\r\n` }, fingerprints);
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(fake.remoteDescriptions).toHaveLength(1);
    expect(sent[1]).toEqual(sent[0]);
    expect(fake.candidates).toEqual([{ candidate, sdpMid: '0', sdpMLineIndex: 0 }]);
    // An older offer of theirs, or an answer when no offer of ours waits: nothing happens.
    await conn.accept({ type: 'offer', sdp: `${offer.sdp}o=- 42 1 IN IP4 0.0.0.0\r\n` }, fingerprints);
    await conn.accept({ type: 'answer', sdp: `${offer.sdp}o=- 42 3 IN IP4 0.0.0.0\r\n` }, fingerprints);
    expect(fake.remoteDescriptions).toHaveLength(1);
    expect(sent).toHaveLength(2);
    // Their next offer (a restart) is applied.
    await conn.accept({ type: 'offer', sdp: `${offer.sdp}o=- 42 4 IN IP4 0.0.0.0\r\n` }, fingerprints);
    expect(fake.remoteDescriptions).toHaveLength(2);
  });

  it('candidateKey: the same candidate from a description line and from RTCIceCandidate', () => {
    expect(
      candidateKey('a=candidate:1 1 udp 2122260223 192.0.2.2 36375 typ host generation 0 network-id 1'),
    ).toBe(
      candidateKey(
        'candidate:1 1 udp 2122260223 192.0.2.2 36375 typ host generation 0 ufrag Ab12 network-id 1',
      ),
    );
    expect(candidateKey('candidate:1 1 udp 2122260223 192.0.2.2 36375 typ host')).not.toBe(
      candidateKey('candidate:1 1 udp 2122260223 192.0.2.2 36376 typ host'),
    );
  });
});
