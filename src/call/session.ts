/**
 * One call, as the UI sees it (src/overlay/app.ts draws it; no UI here): the facade over the
 * call engine's pieces, each in its own file:
 *   - room.ts: who is in the call, whom we wait for, capacity, the call's state;
 *   - remote-participant.ts: one remote person (stable key, signaling id, name, tracks by
 *     source, the connection that carries them and its replacement);
 *   - peer-connection.ts: one RTCPeerConnection (perfect negotiation, candidates, ICE
 *     restart, data channels, close);
 *   - next-peer-offer.ts: the offer prepared (and parked) for the next person to join;
 *   - watchdog.ts: a first connection that does not connect restarts ICE, then says why;
 *   - local-tracks.ts: our microphone, camera and screen share in every connection's senders;
 *   - screen-share.ts: the screen capture and one connection's transceivers for it;
 *   - description-auth.ts: how descriptions are signed and verified (the link secret's MAC,
 *     or for calls between contacts their identity keys, identity-signed-auth.ts).
 *
 * Who offers: to avoid a collision on every call start, only the peer already in the room
 * offers, when the server says someone joined (as a plain page with a relay would: the
 * newcomer's own trip to the server is all that precedes the offer), with the offer it
 * prepared while it waited. The newcomer answers, attaching its media to the offer's
 * transceivers, and can start ICE checks at once; if no offer comes within `offerWaitMs` (an
 * older client, a lost message) it offers itself. Later renegotiations (ICE restarts) may come
 * from either side; perfect negotiation settles collisions.
 *
 * Every description carries an authentication of its DTLS fingerprints (the link secret's
 * MAC, or the sender's identity-key signature); one that does not verify ends the call as
 * 'unverified' before it is ever applied.
 *
 * The call survives a peer's signaling going away (e.g. the extension's service worker
 * restarting): it ends for a peer only on 'bye', or on the connection staying
 * 'disconnected'/'failed' (ICE is restarted meanwhile), or its data channels staying closed,
 * for longer than `disconnectGraceMs`. `detach` is what a page that hands the call over to
 * another page does instead of hanging up (see remote-participant.ts for the other side).
 */

import type { PeerSignal } from '../protocol/peer-signal.ts';
import { parsePeerSignal } from '../protocol/peer-signal.ts';
import type { IceServer } from '../protocol/signaling.ts';
import { isTeamRoomId, joinKeyFor } from '../protocol/team-room.ts';
import { type DescriptionAuth, LinkSecretAuth } from './description-auth.ts';
import { Emitter } from './emitter.ts';
import { LocalTracks } from './local-tracks.ts';
import type { CallMedia } from './media.ts';
import type { MediaWatchdogOptions } from './media-watchdog.ts';
import { NextPeerOffer, type PreparedTake } from './next-peer-offer.ts';
import type { PeerLink } from './peer-link.ts';
import { PEER_CONNECTION_BASE } from './prepared-offer.ts';
import {
  type ParticipantHost,
  type PeerEndReason,
  RemoteParticipant,
  type RemotePeer,
} from './remote-participant.ts';
import { type CallState, Room } from './room.ts';
import { captureDisplay, type ScreenCapture } from './screen-share.ts';
import { SessionCertificate } from './session-certificate.ts';
import type { JoinedInfo, Signaling, SignalingStatus } from './signaling.ts';
import type { Quality, StatsSample } from './stats.ts';

export { candidateKey, candidatesIn } from './peer-connection.ts';
export type { CallState, PeerEndReason, RemotePeer };

export type EndReason = 'hangup' | 'remote-hangup' | 'lost' | 'unverified' | 'room-full' | 'error';

export interface CallStatus {
  state: CallState;
  /** Set when state is 'ended'. */
  reason?: EndReason;
  /** A sentence for a person, set when state is 'ended'. */
  message?: string;
}

export interface LocalState {
  micOn: boolean;
  cameraOn: boolean;
  /** We share a screen, window or tab. */
  sharing: boolean;
}

export interface CallSessionEvents {
  status: (status: CallStatus) => void;
  /** A remote peer was added or changed (name, tracks, mute, connection, stats). */
  peer: (peer: RemotePeer) => void;
  peerRemoved: (peerId: string, reason: PeerEndReason) => void;
  /**
   * A person's link opened for the first time (both data channels open). It outlives their
   * connection: it pauses while a connection is replaced and continues on the next one.
   */
  link: (link: PeerLink) => void;
  /** The person is gone for good: their link is closed. */
  linkClosed: (peerId: string, reason: 'hangup' | 'lost' | 'left') => void;
  /** Our own mic/camera/screen share changed. */
  local: (state: LocalState) => void;
  /** Signaling connection status (for a "Reconnecting to the server…" hint). */
  signaling: (status: SignalingStatus) => void;
  /** A non-fatal problem a person should see, or null when it is gone. */
  notice: (message: string | null) => void;
}

export interface CallSessionOptions {
  signaling: Signaling;
  room: string;
  secret: string;
  media: CallMedia;
  localName: string;
  /** How descriptions are authenticated; the link secret's MAC unless given (contacts: IdentitySignedAuth). */
  auth?: DescriptionAuth;
  /** Already acquired media (the UI does it to show permission errors); else start() asks. */
  localStream?: MediaStream;
  /** How long a connection may stay disconnected/failed before the peer is lost. */
  disconnectGraceMs?: number;
  /**
   * How long someone whose page went without a bye (the server says they left) may take to
   * come back under the same id (a reloading guest page) before they are gone. Default
   * RETURN_WAIT_MS.
   */
  returnWaitMs?: number;
  /** How many remote peers we accept at most. */
  maxPeers?: number;
  /** After our signaling id changed, how long to wait for a peer's new id before offering. */
  rekeyWaitMs?: number;
  /** A newcomer waits this long for the offer of a peer already in the room, then offers itself. */
  offerWaitMs?: number;
  /**
   * A first connection whose descriptions are both applied but that has not connected after
   * this long restarts ICE (see watchdog.ts).
   */
  setupRetryMs?: number;
  /** When media stops on a connection (see MediaWatchdog); for tests. */
  mediaWatchdog?: MediaWatchdogOptions;
  /** In a call with room for more, how long after someone arrived the next offer is made. */
  groupOfferDelayMs?: number;
  /** For tests: make the peer connection. */
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
  /** For tests: skip the pagehide listener. */
  listenPageHide?: boolean;
  /**
   * Calls `changed` when the device's network changed under the call; returns the
   * unsubscribe. Default: the browser's `online` event (see onNetworkChanged).
   */
  watchNetwork?: (changed: () => void) => () => void;
}

/** The browser's `online` event: the device was offline and is back, likely on another network. */
function watchOnline(changed: () => void): () => void {
  if (typeof addEventListener !== 'function') return () => {};
  addEventListener('online', changed);
  return () => removeEventListener('online', changed);
}

/**
 * How long we wait for someone whose page went without a bye to come back (a guest page that
 * reloads is back within a few seconds; a closed tab never is, and the others see it leave
 * after this).
 */
export const RETURN_WAIT_MS = 5000;

/** How long after someone arrived a call with room for more prepares the next person's offer. */
export const GROUP_OFFER_DELAY_MS = 3000;

function isPromise<T>(value: unknown): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

export class CallSession {
  private readonly events = new Emitter<CallSessionEvents>();
  private readonly room: Room;
  private readonly tracks: LocalTracks;
  private readonly auth: DescriptionAuth;
  private readonly next: NextPeerOffer;
  private readonly host: ParticipantHost;
  private readonly rekeyWaitMs: number;
  private readonly offerWaitMs: number;
  private readonly unsubscribe: Array<() => void> = [];
  private selfId: string | null = null;
  private iceServers: IceServer[] = [];
  private current: CallStatus = { state: 'waiting' };
  private connectedAt: number | null = null;
  private started = false;
  private setupNoticeShown = false;
  /** In a call with room for more, the next person's offer is made a little after it settled. */
  private groupOfferTimer: ReturnType<typeof setTimeout> | undefined;
  private groupOfferDue = false;
  private readonly onPageHide = () => this.hangUp({ immediate: true });
  /** With an auth that signs ahead (a contact call): our connections' one certificate. */
  private certificate: SessionCertificate | null = null;

  constructor(private readonly options: CallSessionOptions) {
    this.rekeyWaitMs = options.rekeyWaitMs ?? 3000;
    this.offerWaitMs = options.offerWaitMs ?? 1500;
    this.room = new Room(options.maxPeers ?? 8);
    this.tracks = new LocalTracks(options.media, options.localStream);
    this.auth = options.auth ?? new LinkSecretAuth(options.secret);
    this.next = new NextPeerOffer({
      media: options.media,
      auth: this.auth,
      ...(options.signaling.park ? { park: (data) => options.signaling.park?.(data) } : {}),
      selfId: () => this.selfId,
      open: () => this.nextOfferOpen(),
      config: () => ({ iceServers: this.rtcIceServers(), ...this.certificate?.config() }),
      ...(options.createPeerConnection ? { createPeerConnection: options.createPeerConnection } : {}),
    });
    this.host = this.participantHost(
      options.disconnectGraceMs ?? 8000,
      options.returnWaitMs ?? RETURN_WAIT_MS,
      options.setupRetryMs ?? 10_000,
    );
  }

  // ---------- public API ----------

  get status(): CallStatus {
    return this.current;
  }

  /**
   * End the call with a sentence: as the other side did (`remote-hangup`: a ring declined or
   * unanswered), or ourselves, saying bye (`hangup`: the security codes did not match).
   */
  endWith(message: string, reason: 'remote-hangup' | 'hangup' = 'remote-hangup'): void {
    this.end(reason, message);
  }

  /** Our id in the signaling room, once joined (binds identity keys to this call). */
  get signalingId(): string | null {
    return this.selfId;
  }

  get media(): CallMedia {
    return this.options.media;
  }

  get localName(): string {
    return this.options.localName;
  }

  get localStream(): MediaStream | null {
    return this.tracks.stream;
  }

  get micOn(): boolean {
    return this.tracks.micOn;
  }

  get cameraOn(): boolean {
    return this.tracks.cameraOn;
  }

  /** What we share now, or null. */
  get screen(): ScreenCapture | null {
    return this.tracks.screen;
  }

  /** performance.now() of the first connection, for the call timer. */
  get connectedSince(): number | null {
    return this.connectedAt;
  }

  get remotePeers(): RemotePeer[] {
    return this.room.participants.map((p) => p.view);
  }

  /** The worst quality across connected peers, with its RTT. */
  get quality(): { quality: Quality; rttMs: number | null } | null {
    const order: Quality[] = ['good', 'fair', 'poor'];
    let worst: StatsSample | null = null;
    for (const { stats, connection } of this.remotePeers) {
      if (!stats || connection !== 'connected') continue;
      if (!worst || order.indexOf(stats.quality) > order.indexOf(worst.quality)) worst = stats;
    }
    return worst ? { quality: worst.quality, rttMs: worst.rttMs } : null;
  }

  on<K extends keyof CallSessionEvents>(event: K, handler: CallSessionEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  /**
   * Join the room with `localStream` (the UI usually acquires it, to show permission errors
   * and offer audio only), or get media here. Rejects with MediaAccessError if media fails.
   * A video call may start with an audio-only stream: the camera is then off, and turning it
   * on later needs no renegotiation.
   *
   * Given a promise, the session joins at once and puts the tracks in when the devices are
   * ready (real cameras take up to a second or two to start): the call connects meanwhile.
   * A promise that resolves undefined leaves it to the UI to call `useMedia` later.
   */
  async start(localStream?: MediaStream | Promise<MediaStream | undefined>): Promise<void> {
    if (this.started) return;
    this.started = true;
    const pending = isPromise(localStream) ? localStream : null;
    if (pending) {
      pending.then(
        (stream) => {
          if (stream) this.useMedia(stream);
        },
        () => {},
      );
    } else if (localStream && !isPromise(localStream) && !this.tracks.ready) {
      this.tracks.use(localStream);
    }
    if (!this.tracks.ready && !pending) {
      if (!(await this.tracks.acquire())) return;
    }
    // Signatures a round trip away are made while we join (see ./session-certificate.ts).
    if (this.auth.prepare) {
      this.certificate = new SessionCertificate();
      void this.certificate.ready.then(() => this.signAhead());
    }
    // The key is needed for the first description, not for joining: derived meanwhile.
    this.auth.ready.catch(() => {
      this.end('error', 'This browser cannot verify the call (WebCrypto is missing).');
    });
    const { signaling } = this.options;
    this.unsubscribe.push(
      signaling.on('joined', (info) => this.onJoined(info)),
      signaling.on('peerJoined', (id, parked) => this.onPeerJoined(id, parked)),
      signaling.on('peerLeft', (id) => this.onPeerLeft(id)),
      signaling.on('signal', (from, data) => this.onSignal(from, data)),
      signaling.on('status', (status) => {
        this.events.emit('signaling', status);
        if (status === 'reconnecting') this.events.emit('notice', this.reconnectingNotice());
      }),
      signaling.on('error', (code, message) => this.onSignalingError(code, message)),
      (this.options.watchNetwork ?? watchOnline)(() => this.onNetworkChanged()),
    );
    if (this.options.listenPageHide !== false && typeof addEventListener === 'function') {
      addEventListener('pagehide', this.onPageHide);
    }
    try {
      const { room, secret } = this.options;
      await signaling.join(room, isTeamRoomId(room) ? await joinKeyFor(room, secret) : undefined);
    } catch (err) {
      if (this.current.state !== 'ended') {
        this.end('error', err instanceof Error && err.message ? err.message : 'Could not join the call.');
      }
    }
  }

  /** Our microphone and camera, when they are ready after the session started (or again). */
  useMedia(stream: MediaStream): void {
    if (this.tracks.use(stream)) this.localChanged();
  }

  setMicEnabled(on: boolean): void {
    if (this.current.state === 'ended') return;
    if (this.tracks.setMicEnabled(on)) this.localChanged();
  }

  /** Camera off stops the camera (light off); on reopens it. No renegotiation either way. */
  async setCameraEnabled(on: boolean): Promise<void> {
    if (this.current.state === 'ended') return;
    if (await this.tracks.setCameraEnabled(on)) this.localChanged();
  }

  /**
   * Share a screen, window or tab chosen in the browser's picker (`tab`: this tab, see
   * screen-share.ts). Call it from the click itself: the picker needs the click's user
   * activation, so nothing is awaited before it opens. `prepare` runs on the capture before
   * it is sent (the extension restricts a tab capture to the page, without its overlay).
   * Rejects with ScreenShareError ('cancelled' if the picker was closed).
   */
  async shareScreen(
    what: 'screen' | 'tab' = 'screen',
    prepare?: (capture: ScreenCapture) => Promise<void>,
  ): Promise<void> {
    if (this.current.state === 'ended') return;
    const capture = await captureDisplay(what);
    try {
      await prepare?.(capture);
    } catch (err) {
      for (const t of capture.stream.getTracks()) t.stop();
      throw err;
    }
    this.useScreen(capture);
  }

  /** Share this capture from now on (replacing any other), or stop sharing (null). */
  useScreen(capture: ScreenCapture | null): void {
    if (this.current.state === 'ended') {
      for (const t of capture?.stream.getTracks() ?? []) t.stop();
      return;
    }
    if (!this.tracks.setScreen(capture)) return;
    // The browser's own "Stop sharing" (or the shared window closing) ends the track.
    capture?.video.addEventListener('ended', () => {
      if (this.tracks.screen === capture) this.useScreen(null);
    });
    for (const p of this.room.participants) p.announceScreen();
    this.events.emit('local', this.localState());
  }

  stopSharing(): void {
    this.useScreen(null);
  }

  /** Hang up: tell the others, close every connection, stop every track, leave the room. */
  hangUp(options: { immediate?: boolean } = {}): void {
    if (this.current.state === 'ended') return;
    this.end('hangup', 'Call ended', options.immediate ?? false);
  }

  /**
   * This page is going away but the call is not over: another page carries it on under the
   * same signaling id (the extension's overlay, re-mounted after the page deleted it; its
   * service worker says bye for us if no overlay comes back). Close the connections and
   * stop the devices without a bye and without leaving the room: the peers keep our place
   * and take the new page's offer as our new connection.
   */
  detach(): void {
    if (this.current.state === 'ended') return;
    this.end('hangup', 'Call ended', true, false);
  }

  /** Detach all listeners (after the UI is gone). Hangs up if still in a call. */
  dispose(): void {
    this.hangUp({ immediate: true });
    this.events.clear();
  }

  /**
   * What to say while the signaling server is out of reach: media and chat are peer to peer,
   * so a call whose media flows goes on (only a change that needs a new ICE negotiation, or
   * someone new joining, waits for the server).
   */
  private reconnectingNotice(): string {
    const flowing = this.room.participants.some((p) => p.connection.working && !p.mediaStalled);
    return flowing
      ? 'Reconnecting to the call server… The call goes on meanwhile.'
      : 'Reconnecting to the call server…';
  }

  // ---------- signaling events ----------

  private onJoined(info: JoinedInfo): void {
    if (this.current.state === 'ended') return;
    const previous = this.selfId;
    const reconnect = previous !== null;
    this.selfId = info.peerId;
    this.iceServers = info.iceServers;
    this.signAhead();
    // The server says how many it takes; we are one of them.
    if (info.capacity >= 2) this.room.capacity = Math.min(this.options.maxPeers ?? 8, info.capacity - 1);
    this.next.canPark = info.canPark === true;
    this.next.forgetParked();
    this.events.emit('notice', null);
    const participants = this.room.participants;
    if (reconnect && previous !== info.peerId) {
      // The server forgot us (e.g. it restarted) and gave us a new id. Tell the peers we are
      // still connected to over the data channel, which the server cannot touch, so they
      // re-address their signals instead of starting a second connection.
      for (const p of participants) p.sendControl({ t: 'peer-id', peerId: info.peerId });
    }
    for (const p of participants) {
      p.connection.setIceServers(this.rtcIceServers());
      // Signaling is back: a connection that dropped meanwhile can now restart ICE. (Or one
      // whose media stopped while ICE still says connected: its restart offer may have gone
      // into the socket that just died, as when a laptop changes networks.)
      // And an offer of ours still unanswered goes again: it, or its answer, may have been lost.
      if (reconnect) p.connection.resendOffer();
      if (reconnect && (p.connection.iceDropped || p.mediaStalled)) p.connection.restartIce();
    }
    // Peers we are connected to but the server no longer lists under their old id may be
    // among the new ids: give their 'peer-id' message a moment before offering anew.
    let stale = false;
    for (const p of participants) {
      if (p.inCall && !info.peers.includes(p.id)) {
        p.signalingStale();
        stale = true;
      }
    }
    for (const id of info.peers) {
      if (this.room.get(id)) continue;
      if (reconnect && stale) this.expect(id, this.rekeyWaitMs);
      // Back after a gap: someone who joined meanwhile waited for an offer we never saw coming.
      // Or a new page for a call we were in (re-mounted): the peers know us, nobody will offer.
      else if (reconnect || info.rejoin) this.addParticipant(id, true);
      // Fresh: those already here offer to us; we only step in if no offer comes.
      else {
        this.expect(id, this.offerWaitMs);
        this.next.makeSpare();
      }
    }
    this.recompute();
    this.next.prepare();
    this.next.park();
  }

  /** Someone announced: unless their offer came by then, we offer after `delayMs`. */
  private expect(id: string, delayMs: number): void {
    this.room.expect(id, delayMs, (due) => {
      if (this.current.state !== 'ended') this.addParticipant(due, true);
    });
  }

  /** Our fingerprints signed for our current signaling id, before any description needs it. */
  private signAhead(): void {
    const fingerprints = this.certificate?.fingerprintLines();
    if (fingerprints && this.selfId !== null) this.auth.prepare?.(this.selfId, fingerprints);
  }

  private onPeerJoined(id: string, parked = false): void {
    if (this.current.state === 'ended' || id === this.selfId) return;
    const existing = this.room.get(id);
    if (existing) {
      // The same peer came back (resumed its signaling): nothing to redo unless ICE dropped,
      // or an offer of ours waits (it may have gone to their socket that died).
      existing.signalingBack();
      existing.connection.resendOffer();
      if (existing.connection.iceDropped) existing.connection.restartIce();
      return;
    }
    if (this.room.isFull) return;
    // Someone we are still connected to may be coming back under a new id (their server-side
    // session was lost): give their 'peer-id' message over the data channel a moment first.
    if (this.room.participants.some((p) => p.signalingGone)) {
      this.expect(id, this.rekeyWaitMs);
      this.recompute();
      return;
    }
    // We were here first: we offer, with the offer made while we waited if there is one (or
    // the server already gave it to them: it was parked). Everyone already in the call does
    // the same: the newcomer gets one offer from each of us.
    this.addParticipant(id, true, this.next.take(parked));
  }

  /**
   * The device's network changed (it came back online, as a laptop that joined another
   * Wi-Fi does): the addresses our connections use are likely gone. Restart ICE on every one
   * now rather than after media stopped for 2 s; make sure signaling still works (the
   * restart offers go through it; see lost-signals.ts for offers lost before it noticed).
   */
  private onNetworkChanged(): void {
    if (this.current.state === 'ended') return;
    this.options.signaling.checkConnection?.();
    for (const p of this.room.participants) p.networkChanged();
  }

  private onPeerLeft(id: string): void {
    this.room.arrived(id);
    this.room.get(id)?.signalingLeft();
    this.recompute();
  }

  private onSignalingError(code: string, message: string): void {
    switch (code) {
      case 'room-full':
        // The server's sentence says how many it takes ("This call is full (6 people).").
        this.end(
          'room-full',
          /^This call is full/.test(message) ? message : 'This call is full. Ask for a new link.',
        );
        return;
      case 'unsupported-version':
        this.end('error', 'This call link needs a newer version of Parley. Reload the page and try again.');
        return;
      case 'replaced':
        this.end('error', 'This call was opened in another tab or window.');
        return;
      case 'unreachable':
        this.events.emit('notice', 'Cannot reach the call server. Trying again…');
        return;
      case 'unknown-peer':
        // A signal raced with that peer leaving: harmless.
        return;
      default:
        // rate-limited, too-large...: keep going, the call may still work.
        if (message) this.events.emit('notice', null);
    }
  }

  private onSignal(from: string, data: unknown): void {
    if (this.current.state === 'ended' || from === this.selfId) return;
    const signal = parsePeerSignal(data);
    if (!signal) {
      // Untrusted input that does not fit the schema: drop it (never log its contents).
      console.warn('Parley: dropped a malformed signal from a peer');
      return;
    }
    let participant = this.room.get(from);
    if (!participant) {
      if (signal.kind !== 'description' || signal.description.type !== 'offer') return;
      if (this.room.isFull) return;
      participant = this.addParticipant(from, false);
    }
    participant.receive(signal);
  }

  /** A connected peer tells us (over DTLS) its new signaling id. */
  private rekey(participant: RemoteParticipant, newId: string): void {
    if (newId === participant.id || newId === this.selfId) return;
    const duplicate = this.room.get(newId);
    if (duplicate) {
      // We raced and already started a second connection to the same person: drop it.
      if (duplicate.inCall) return;
      duplicate.close();
      this.room.remove(duplicate);
      this.events.emit('peerRemoved', duplicate.key, 'left');
    }
    this.room.move(participant, newId);
    participant.signalingBack();
    this.recompute();
  }

  // ---------- participants ----------

  /**
   * Someone new: on the prepared offer's connection if we have one for them (`prepared`),
   * else the spare one made while their offer was on its way, else a fresh one.
   * `initiator`: we offer (our tracks and channels go on now; `negotiationneeded` follows).
   */
  private addParticipant(
    id: string,
    initiator: boolean,
    prepared: PreparedTake | null = null,
  ): RemoteParticipant {
    const adopted = prepared?.offer.take() ?? null;
    const pc = adopted?.pc ?? this.next.takeSpare() ?? this.newPeerConnection();
    const participant = new RemoteParticipant(this.host, id, pc);
    this.room.add(participant);
    // Their setup goes first; the offer for whoever comes after them is made a little later.
    this.scheduleGroupOffer(true);
    if (prepared && adopted) participant.connection.offerPrepared(prepared, adopted.candidates);
    else if (initiator) participant.offer();
    this.emitPeer(participant);
    this.recompute();
    return participant;
  }

  private newPeerConnection(): RTCPeerConnection {
    const config: RTCConfiguration = {
      ...PEER_CONNECTION_BASE,
      iceServers: this.rtcIceServers(),
      ...this.certificate?.config(),
    };
    return this.options.createPeerConnection?.(config) ?? new RTCPeerConnection(config);
  }

  private participantHost(graceMs: number, returnWaitMs: number, setupRetryMs: number): ParticipantHost {
    return {
      auth: this.auth,
      tracks: this.tracks,
      graceMs,
      returnWaitMs,
      setupRetryMs,
      mediaWatchdog: this.options.mediaWatchdog,
      hasTurn: () =>
        this.iceServers.some((s) =>
          (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^turns?:/.test(u)),
        ),
      selfId: () => this.selfId ?? '',
      mediaStopped: () => this.options.signaling.checkConnection?.(),
      localName: () => this.options.localName,
      callEnded: () => this.current.state === 'ended',
      newPeerConnection: () => this.next.takeSpare() ?? this.newPeerConnection(),
      send: (to, signal) => this.options.signaling.send(to, signal),
      changed: (participant, status) => {
        this.emitPeer(participant);
        if (status) this.recompute();
      },
      linkOpened: (link) => this.events.emit('link', link),
      ended: (participant, reason, wasInCall, hadLink) =>
        this.participantEnded(participant, reason, wasInCall, hadLink),
      firstConnected: () => {
        if (this.connectedAt === null) this.connectedAt = performance.now();
        if (this.setupNoticeShown) {
          this.setupNoticeShown = false;
          this.events.emit('notice', null);
        }
      },
      unverified: () =>
        this.end(
          'unverified',
          this.auth.refusal?.() ?? 'This call could not be verified: the connection may be intercepted.',
        ),
      rekey: (participant, newId) => this.rekey(participant, newId),
      setupNotice: (message) => {
        this.setupNoticeShown = true;
        this.events.emit('notice', message);
      },
    };
  }

  /** One person is gone. When it was the last one, the call ends (or waits again). */
  private participantEnded(
    participant: RemoteParticipant,
    reason: PeerEndReason,
    wasInCall: boolean,
    hadLink: boolean,
  ): void {
    this.room.remove(participant);
    if (hadLink)
      this.events.emit('linkClosed', participant.key, reason === 'remote-hangup' ? 'hangup' : reason);
    this.events.emit('peerRemoved', participant.key, reason);
    if (this.room.size === 0 && wasInCall && this.current.state !== 'ended') {
      if (reason === 'remote-hangup') {
        const { name } = participant;
        this.end('remote-hangup', name === 'Guest' ? 'The other person hung up.' : `${name} hung up.`);
      } else {
        this.end('lost', 'Connection lost');
      }
      return;
    }
    this.recompute();
  }

  private rtcIceServers(): RTCIceServer[] {
    return this.iceServers.map((s) => ({ ...s }));
  }

  private localState(): LocalState {
    return { micOn: this.micOn, cameraOn: this.cameraOn, sharing: this.tracks.screen !== null };
  }

  private localChanged(): void {
    const state = this.localState();
    for (const p of this.room.participants)
      p.sendControl({ t: 'media', audio: state.micOn, video: state.cameraOn });
    this.events.emit('local', state);
  }

  // ---------- state ----------

  /** `farewell` false: no bye and no leave (see detach). */
  private end(reason: EndReason, message: string, immediate = true, farewell = true): void {
    if (this.current.state === 'ended') return;
    const participants = this.room.participants;
    if (reason === 'hangup' && farewell) {
      for (const p of participants) {
        p.sendControl({ t: 'bye' });
        this.options.signaling.send(p.id, { kind: 'bye' } satisfies PeerSignal);
      }
    }
    for (const p of participants) {
      const hadLink = p.close(reason === 'hangup' && !immediate);
      if (hadLink) {
        const why = reason === 'hangup' || reason === 'remote-hangup' ? 'hangup' : 'lost';
        this.events.emit('linkClosed', p.key, why);
      }
    }
    this.room.clear();
    clearTimeout(this.groupOfferTimer);
    this.next.drop();
    this.tracks.stop();
    for (const off of this.unsubscribe.splice(0)) off();
    if (farewell) this.options.signaling.leave();
    if (typeof removeEventListener === 'function') removeEventListener('pagehide', this.onPageHide);
    this.setStatus({ state: 'ended', reason, message });
  }

  private recompute(): void {
    if (this.current.state === 'ended') return;
    const state = this.room.state();
    if (state !== this.current.state) this.setStatus({ state });
    this.tracks.rebalance();
    // Alone again (someone left before connecting): be ready for the next one.
    if (state === 'waiting') this.next.prepare();
    else if (state === 'connected') this.scheduleGroupOffer();
  }

  /**
   * The offer for the next person may be made: alone, or in a working call with room for one
   * more, once the last arrival had a moment (the first connection's setup is not slowed by
   * making another one at the same time).
   */
  private nextOfferOpen(): boolean {
    const state = this.current.state;
    if (state === 'waiting') return true;
    return state === 'connected' && this.groupOfferDue && !this.room.isFull;
  }

  /**
   * `restart`: someone just arrived (their setup goes first). Otherwise, once due, make the
   * offer now if there is none, and park it.
   */
  private scheduleGroupOffer(restart = false): void {
    if (restart) {
      this.groupOfferDue = false;
      clearTimeout(this.groupOfferTimer);
      this.groupOfferTimer = undefined;
    }
    if (this.room.isFull || this.current.state !== 'connected') return;
    if (this.groupOfferDue) {
      this.next.prepare();
      this.next.park();
      return;
    }
    if (this.groupOfferTimer !== undefined) return;
    this.groupOfferTimer = setTimeout(() => {
      this.groupOfferTimer = undefined;
      this.groupOfferDue = true;
      this.scheduleGroupOffer();
    }, this.options.groupOfferDelayMs ?? GROUP_OFFER_DELAY_MS);
  }

  private setStatus(status: CallStatus): void {
    this.current = status;
    this.events.emit('status', status);
  }

  private emitPeer(participant: RemoteParticipant): void {
    if (!participant.gone) this.events.emit('peer', participant.view);
  }
}
