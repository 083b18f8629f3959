/**
 * One call: the local media, one RTCPeerConnection per remote peer, their data links, and
 * the state a person sees. No UI here (src/overlay/app.ts draws it).
 *
 * Negotiation is MDN's "perfect negotiation": each side may offer whenever
 * `negotiationneeded` fires; on a collision the *polite* peer rolls back and answers. We make
 * the peer whose id sorts lower the polite one (both sides compute the same answer from the
 * two server-assigned ids, without an extra message). To avoid a collision on every call
 * start, only the peer already in the room offers, when the server says someone joined (as a
 * plain page with a relay would: the newcomer's own trip to the server is all that precedes
 * the offer). The waiting peer has its offer ready before anyone arrives (a PreparedOffer,
 * already signed), so it leaves the moment `peer-joined` does. The newcomer answers, attaching
 * its media to the offer's transceivers, and can start ICE checks at once; if no offer comes
 * within `offerWaitMs` (an older client, a lost message) it offers itself. Later
 * renegotiations (ICE restarts) may come from either side.
 *
 * Every description carries an HMAC of its DTLS fingerprints under the link secret
 * (src/call/verify.ts); one that does not verify ends the call as 'unverified' before it
 * is ever applied.
 *
 * The call survives a peer's signaling going away (e.g. the extension's service worker
 * restarting): it ends for a peer only on 'bye', or on the connection staying
 * 'disconnected'/'failed' (ICE is restarted meanwhile), or its data channels staying closed,
 * for longer than `disconnectGraceMs`.
 *
 * The same person may come back on a new connection: the extension re-mounts its overlay
 * when a page deletes it, and the new page, with the same signaling id, offers again with new
 * DTLS fingerprints (`detach` is what the old page does instead of hanging up). A verified
 * offer from a known id whose fingerprints differ from the ones we connected to replaces
 * that connection, but only if it is not working ('connected' with its data channels open):
 * a replayed old offer cannot break a live call. The person keeps their tile (same `key`);
 * the panels get `linkClosed` and then a new `link`.
 */

import { cleanDisplayName, type PeerCallMessage, parsePeerCallMessage } from '../protocol/peer-call.ts';
import { type DescriptionSignal, type PeerSignal, parsePeerSignal } from '../protocol/peer-signal.ts';
import type { IceServer } from '../protocol/signaling.ts';
import { createCallChannels, type DataLink } from './data-link.ts';
import { Emitter } from './emitter.ts';
import { acquireLocalMedia, type CallMedia, LocalMedia } from './media.ts';
import {
  isHostCandidate,
  MediaWatchdog,
  type MediaWatchdogOptions,
  withoutHostCandidates,
} from './media-watchdog.ts';
import { PEER_CONNECTION_BASE, PreparedOffer } from './prepared-offer.ts';
import type { JoinedInfo, Signaling, SignalingStatus } from './signaling.ts';
import { type Quality, type StatsSample, StatsSampler } from './stats.ts';
import { deriveAuthKey, fingerprintLines, signDescription, verifyDescription } from './verify.ts';

/** The offer prepared while we wait alone (see prepareOffer). */
interface PreparedEntry {
  offer: PreparedOffer;
  selfId: string;
  auth: Promise<string>;
  /** The signature, once computed. */
  signed: string | null;
  /** The descriptions parked with the server, oldest first (parked again after a reconnect). */
  parkedSdps: string[];
}

/** A prepared offer handed to a new peer, with its signature if it is still ours to use. */
interface PreparedTake {
  offer: PreparedOffer;
  auth: Promise<string> | null;
  /** The signature, if already computed (then the offer can go out at once). */
  signed: string | null;
  /** The server already handed this description to the peer (it was parked). */
  delivered: string | null;
}

/** A prepared offer as the signal that carries it, parked or sent. */
function signedOffer(sdp: string, auth: string): PeerSignal {
  return { kind: 'description', description: { type: 'offer', sdp }, auth };
}

/** How long a prepared offer waits for its ICE candidates before it is parked anyway. */
const PARK_GATHER_WAIT_MS = 1500;

export type CallState = 'waiting' | 'connecting' | 'connected' | 'reconnecting' | 'ended';
export type EndReason = 'hangup' | 'remote-hangup' | 'lost' | 'unverified' | 'room-full' | 'error';
export type PeerEndReason = 'remote-hangup' | 'lost' | 'left';

export interface CallStatus {
  state: CallState;
  /** Set when state is 'ended'. */
  reason?: EndReason;
  /** A sentence for a person, set when state is 'ended'. */
  message?: string;
}

/** What the UI shows about one remote person. */
export interface RemotePeer {
  readonly peerId: string;
  /** From their 'hello'; 'Guest' until then. */
  readonly name: string;
  /** Their audio and video tracks; null until the first track arrives. */
  readonly stream: MediaStream | null;
  readonly micOn: boolean;
  readonly cameraOn: boolean;
  readonly connection: 'connecting' | 'connected' | 'reconnecting';
  readonly stats: StatsSample | null;
}

export interface CallSessionEvents {
  status: (status: CallStatus) => void;
  /** A remote peer was added or changed (name, tracks, mute, connection, stats). */
  peer: (peer: RemotePeer) => void;
  peerRemoved: (peerId: string, reason: PeerEndReason) => void;
  /** Both data channels to a peer are open. */
  link: (link: DataLink) => void;
  linkClosed: (peerId: string, reason: 'hangup' | 'lost' | 'left') => void;
  /** Our own mic/camera changed. */
  local: (state: { micOn: boolean; cameraOn: boolean }) => void;
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
  /** Already acquired media (the UI does it to show permission errors); else start() asks. */
  localStream?: MediaStream;
  /** How long a connection may stay disconnected/failed before the peer is lost. */
  disconnectGraceMs?: number;
  /** How many remote peers we accept at most. */
  maxPeers?: number;
  /** After our signaling id changed, how long to wait for a peer's new id before offering. */
  rekeyWaitMs?: number;
  /** A newcomer waits this long for the offer of a peer already in the room, then offers itself. */
  offerWaitMs?: number;
  /**
   * A first connection whose descriptions are both applied but that has not connected after
   * this long restarts ICE (the impolite side first, the polite one half as long again later
   * if still needed; at most SETUP_RETRIES times).
   */
  setupRetryMs?: number;
  /** When media stops on a connection (see MediaWatchdog); for tests. */
  mediaWatchdog?: MediaWatchdogOptions;
  /** For tests: make the peer connection. */
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection;
  /** For tests: skip the pagehide listener. */
  listenPageHide?: boolean;
}

const MAX_FRAME = 262_144;
/** How many times a first connection that does not connect restarts ICE (see watchSetup). */
const SETUP_RETRIES = 2;
const STILL_CONNECTING_NOTICE = 'Still connecting… trying again.';
const NO_CONNECTION_NOTICE =
  'The call cannot connect: a firewall or network between you may be blocking it. A TURN relay on the call server usually fixes this.';

/**
 * What identifies an ICE candidate: foundation, component, transport, priority, address,
 * port. The same candidate is written with different extensions in a description's
 * `a=candidate` line and in `RTCIceCandidate.candidate` (ufrag, network-id...).
 */
export function candidateKey(candidate: string): string {
  return candidate.replace(/^a=/, '').trim().split(/\s+/).slice(0, 6).join(' ');
}

/** The candidates a description carries already (as `candidateKey`s). */
export function candidatesIn(sdp: string): Set<string> {
  const keys = new Set<string>();
  for (const line of sdp.split(/\r?\n/)) if (line.startsWith('a=candidate:')) keys.add(candidateKey(line));
  return keys;
}

function isPromise<T>(value: unknown): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

interface Peer {
  /** Stable for the life of the connection: what the UI and the panels know the peer by. */
  key: string;
  /** The peer's current signaling id (changes if its server-side session was lost). */
  id: string;
  pc: RTCPeerConnection;
  makingOffer: boolean;
  ignoreOffer: boolean;
  settingRemoteAnswerPending: boolean;
  attached: boolean;
  control: RTCDataChannel | null;
  files: RTCDataChannel | null;
  audioSender: RTCRtpSender | null;
  videoSender: RTCRtpSender | null;
  name: string;
  stream: MediaStream | null;
  micOn: boolean;
  cameraOn: boolean;
  connection: RemotePeer['connection'];
  everConnected: boolean;
  /** Its signaling id is no longer in the room (it may come back under a new one). */
  signalingGone: boolean;
  linkOpen: boolean;
  /**
   * Its data channels closed without a bye: the connection is over for good (closed here
   * too), and we wait `disconnectGraceMs` for the same person's new connection.
   */
  linkLost: boolean;
  /** The `a=fingerprint` lines of the last remote description applied (sorted, joined). */
  remoteFingerprints: string | null;
  /** The peer that took over when a new connection replaced this one. */
  successor: Peer | null;
  /**
   * A verified offer for a new connection that came while this one still looked alive (the
   * close of our data channels can be lost on the network; then only ICE notices, seconds
   * later). Taken if this connection fails soon after.
   */
  parked: { signal: DescriptionSignal; at: number } | null;
  byeReceived: boolean;
  closed: boolean;
  /** Serializes incoming signals (verification is async, order matters). */
  incoming: Promise<void>;
  /** Serializes outgoing signals so a description always precedes its candidates. */
  outgoing: Promise<void>;
  graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** A first connection that has not connected yet: retries ICE now and then (see watchSetup). */
  setupTimer: ReturnType<typeof setTimeout> | undefined;
  setupRetries: number;
  leftTimer: ReturnType<typeof setTimeout> | undefined;
  sampler: StatsSampler | null;
  stats: StatsSample | null;
  /** Restarts ICE (then relay-only) when inbound media stops; fed by the sampler. */
  watchdog: MediaWatchdog | null;
  /** Switched to relay-only by the watchdog: remote host candidates are ignored. */
  relayOnly: boolean;
}

export class CallSession {
  private readonly events = new Emitter<CallSessionEvents>();
  private readonly peers = new Map<string, Peer>();
  /** Peers announced by the server whose offer we are waiting for. */
  private readonly expected = new Set<string>();
  /** New ids we wait on before offering (see onJoined). */
  private readonly deferred = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly rekeyWaitMs: number;
  private readonly offerWaitMs: number;
  private readonly setupRetryMs: number;
  private readonly keyPromise: Promise<CryptoKey>;
  private readonly disconnectGraceMs: number;
  private readonly maxPeers: number;
  private readonly unsubscribe: Array<() => void> = [];
  private localMedia: LocalMedia | null = null;
  private selfId: string | null = null;
  private iceServers: IceServer[] = [];
  private current: CallStatus = { state: 'waiting' };
  private connectedAt: number | null = null;
  private started = false;
  private setupNoticeShown = false;
  /**
   * A connection made when we join a room where someone is, while their offer is on its way.
   * (No `iceCandidatePoolSize`: it gained nothing measurable, and calls that never connected
   * were seen under load while it was on.)
   */
  private spare: RTCPeerConnection | null = null;
  /** The offer for the next peer to join, while we wait alone (already signed). */
  private prepared: PreparedEntry | null = null;
  /** The prepared offer parked with the server for the next joiner (`Signaling.park`). */
  private parked: PreparedEntry | null = null;
  /** The server keeps parked messages (its last `joined` said so). */
  private canPark = false;
  private readonly onPageHide = () => this.hangUp({ immediate: true });

  constructor(private readonly options: CallSessionOptions) {
    this.disconnectGraceMs = options.disconnectGraceMs ?? 8000;
    this.maxPeers = options.maxPeers ?? 8;
    this.rekeyWaitMs = options.rekeyWaitMs ?? 3000;
    this.offerWaitMs = options.offerWaitMs ?? 1500;
    this.setupRetryMs = options.setupRetryMs ?? 10_000;
    this.keyPromise = deriveAuthKey(options.secret);
    // An unhandled rejection here would be noise; start() awaits it and reports.
    this.keyPromise.catch(() => {});
    if (options.localStream) this.localMedia = new LocalMedia(options.localStream, options.media);
  }

  // ---------- public API ----------

  get status(): CallStatus {
    return this.current;
  }

  get media(): CallMedia {
    return this.options.media;
  }

  get localName(): string {
    return this.options.localName;
  }

  get localStream(): MediaStream | null {
    return this.localMedia?.stream ?? null;
  }

  get micOn(): boolean {
    return this.localMedia?.micEnabled ?? false;
  }

  get cameraOn(): boolean {
    return this.localMedia?.cameraEnabled ?? false;
  }

  /** performance.now() of the first connection, for the call timer. */
  get connectedSince(): number | null {
    return this.connectedAt;
  }

  get remotePeers(): RemotePeer[] {
    return [...this.peers.values()].map((p) => this.view(p));
  }

  /** The worst quality across connected peers, with its RTT. */
  get quality(): { quality: Quality; rttMs: number | null } | null {
    const order: Quality[] = ['good', 'fair', 'poor'];
    let worst: StatsSample | null = null;
    for (const p of this.peers.values()) {
      if (!p.stats || p.connection !== 'connected') continue;
      if (!worst || order.indexOf(p.stats.quality) > order.indexOf(worst.quality)) worst = p.stats;
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
    } else if (localStream && !isPromise(localStream) && !this.localMedia) {
      this.localMedia = new LocalMedia(localStream, this.options.media);
    }
    if (!this.localMedia && !pending) {
      const stream = await acquireLocalMedia(this.options.media);
      if (this.isEnded()) {
        for (const t of stream.getTracks()) t.stop();
        return;
      }
      this.localMedia = new LocalMedia(stream, this.options.media);
    }
    // The key is needed for the first description, not for joining: derive it meanwhile.
    this.keyPromise.catch(() => {
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
        if (status === 'reconnecting') this.events.emit('notice', 'Reconnecting to the call server…');
      }),
      signaling.on('error', (code, message) => this.onSignalingError(code, message)),
    );
    if (this.options.listenPageHide !== false && typeof addEventListener === 'function') {
      addEventListener('pagehide', this.onPageHide);
    }
    try {
      await signaling.join(this.options.room);
    } catch (err) {
      if (this.current.state !== 'ended') {
        this.end('error', err instanceof Error && err.message ? err.message : 'Could not join the call.');
      }
    }
  }

  /** Our microphone and camera, when they are ready after the session started (or again). */
  useMedia(stream: MediaStream): void {
    if (this.isEnded()) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    if (this.localMedia?.stream === stream) return;
    this.localMedia?.stop();
    this.localMedia = new LocalMedia(stream, this.options.media);
    for (const peer of this.peers.values()) this.fillSenders(peer);
    this.localChanged();
  }

  setMicEnabled(on: boolean): void {
    if (!this.localMedia || this.current.state === 'ended') return;
    this.localMedia.setMicEnabled(on);
    this.localChanged();
  }

  /** Camera off stops the camera (light off); on reopens it. No renegotiation either way. */
  async setCameraEnabled(on: boolean): Promise<void> {
    if (!this.localMedia || this.options.media !== 'video' || this.current.state === 'ended') return;
    const track = await this.localMedia.setCameraEnabled(on);
    if (this.isEnded()) {
      track?.stop();
      return;
    }
    await Promise.all(
      [...this.peers.values()].map(
        (p) => p.videoSender?.replaceTrack(track).catch(() => {}) ?? Promise.resolve(),
      ),
    );
    this.localChanged();
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

  // ---------- signaling events ----------

  private onJoined(info: JoinedInfo): void {
    if (this.current.state === 'ended') return;
    const previous = this.selfId;
    const reconnect = previous !== null;
    this.selfId = info.peerId;
    this.iceServers = info.iceServers;
    this.canPark = info.canPark === true;
    // A new socket (or a server that restarted) holds nothing we parked before.
    this.parked = null;
    this.events.emit('notice', null);
    if (reconnect && previous !== info.peerId) {
      // The server forgot us (e.g. it restarted) and gave us a new id. Tell the peers we are
      // still connected to over the data channel, which the server cannot touch, so they
      // re-address their signals instead of starting a second connection.
      for (const peer of this.peers.values()) this.sendControl(peer, { t: 'peer-id', peerId: info.peerId });
    }
    for (const peer of this.peers.values()) {
      try {
        peer.pc.setConfiguration({ ...peer.pc.getConfiguration(), iceServers: this.rtcIceServers() });
      } catch {
        // Some fields cannot change after creation; the old servers still work.
      }
      // Signaling is back: a connection that dropped meanwhile can now restart ICE.
      // (Or one whose media stopped while ICE still says connected: its restart offer may
      // have gone into the socket that just died, as when a laptop changes networks.)
      if (
        reconnect &&
        (['disconnected', 'failed'].includes(peer.pc.iceConnectionState) || peer.watchdog?.stalled)
      )
        peer.pc.restartIce();
    }
    // Peers we are connected to but the server no longer lists under their old id may be
    // among the new ids: give their 'peer-id' message a moment before offering anew.
    let stale = false;
    for (const p of this.peers.values()) {
      if (p.everConnected && !info.peers.includes(p.id)) {
        p.signalingGone = true;
        stale = true;
      }
    }
    for (const id of info.peers) {
      if (this.peers.has(id)) continue;
      if (reconnect && stale) this.deferInitiate(id, this.rekeyWaitMs);
      // Back after a gap: someone who joined meanwhile waited for an offer we never saw coming.
      // Or a new page for a call we were in (re-mounted): the peers know us, nobody will offer.
      else if (reconnect || info.rejoin) this.createPeer(id, true);
      // Fresh: those already here offer to us; we only step in if no offer comes.
      else {
        this.deferInitiate(id, this.offerWaitMs);
        this.makeSpare();
      }
    }
    this.recompute();
    this.prepareOffer();
    this.park();
  }

  private deferInitiate(id: string, delayMs: number): void {
    if (this.deferred.has(id)) return;
    this.expected.add(id);
    this.deferred.set(
      id,
      setTimeout(() => {
        this.deferred.delete(id);
        if (this.current.state !== 'ended' && !this.peers.has(id) && this.expected.has(id))
          this.createPeer(id, true);
      }, delayMs),
    );
  }

  /**
   * While we wait alone, keep an offer ready for whoever joins next: made with this join's
   * ICE servers and signed with our current id, it goes out the moment `peer-joined` arrives.
   */
  private prepareOffer(): void {
    const selfId = this.selfId;
    const canMake = typeof RTCPeerConnection !== 'undefined' || this.options.createPeerConnection;
    if (this.current.state !== 'waiting' || !selfId || !canMake) return;
    if (this.prepared?.offer.usable && this.prepared.selfId === selfId) return;
    this.dropSpares();
    const offer = new PreparedOffer(
      this.options.media,
      { ...PEER_CONNECTION_BASE, iceServers: this.rtcIceServers() },
      this.options.createPeerConnection,
    );
    const auth = offer.ready.then(async () =>
      signDescription(await this.keyPromise, selfId, offer.pc.localDescription?.sdp ?? ''),
    );
    const entry: PreparedEntry = { offer, selfId, auth, signed: null, parkedSdps: [] };
    auth.then(
      (signed) => {
        entry.signed = signed;
      },
      () => {},
    );
    // Parked once, signed and with its candidates (gathering takes tens of milliseconds with
    // host candidates, longer with STUN/TURN, so at most PARK_GATHER_WAIT_MS): the newcomer
    // can start its checks at once, and we know exactly which candidates it lacks.
    let waited: ReturnType<typeof setTimeout> | undefined;
    const gatheredOrLate = Promise.race([
      offer.gathered,
      new Promise<void>((resolve) => {
        waited = setTimeout(resolve, PARK_GATHER_WAIT_MS);
      }),
    ]);
    Promise.all([auth, gatheredOrLate]).then(
      () => {
        clearTimeout(waited);
        if (this.prepared === entry) this.park();
      },
      () => clearTimeout(waited),
    );
    this.prepared = entry;
  }

  /**
   * Park the prepared offer with the server, which hands it to the next peer right after its
   * `joined`: the newcomer has our offer about a round trip sooner than if we waited for
   * `peer-joined` to send it. Again after every `joined` (a new socket has nothing parked).
   */
  private park(): void {
    const entry = this.prepared;
    const { signaling } = this.options;
    if (!entry || !signaling.park || !this.canPark || this.current.state !== 'waiting') return;
    if (entry.signed === null || entry.selfId !== this.selfId || !entry.offer.isReady || !entry.offer.usable)
      return;
    const local = entry.offer.pc.localDescription;
    if (!local) return;
    if (this.parked === entry && entry.parkedSdps.at(-1) === local.sdp) return;
    entry.parkedSdps.push(local.sdp);
    this.parked = entry;
    signaling.park(signedOffer(local.sdp, entry.signed));
  }

  /** Take back what we parked (the offer behind it is going away or went to someone else). */
  private unpark(): void {
    if (!this.parked) return;
    this.parked = null;
    this.options.signaling.park?.(null);
  }

  private makeSpare(): void {
    if (this.spare) return;
    const config: RTCConfiguration = {
      ...PEER_CONNECTION_BASE,
      iceServers: this.rtcIceServers(),
    };
    try {
      this.spare = this.options.createPeerConnection?.(config) ?? new RTCPeerConnection(config);
    } catch {
      this.spare = null;
    }
  }

  private dropSpares(): void {
    this.unpark();
    this.spare?.close();
    this.spare = null;
    this.prepared?.offer.close();
    this.prepared = null;
  }

  /** A connected peer tells us (over DTLS) its new signaling id. */
  private rekey(peer: Peer, newId: string): void {
    if (newId === peer.id || newId === this.selfId) return;
    const duplicate = this.peers.get(newId);
    if (duplicate) {
      // We raced and already started a second connection to the same person: drop it.
      if (duplicate.everConnected) return;
      this.closePeer(duplicate);
      this.peers.delete(newId);
      this.events.emit('peerRemoved', duplicate.key, 'left');
    }
    this.peers.delete(peer.id);
    peer.id = newId;
    peer.signalingGone = false;
    this.peers.set(newId, peer);
    this.expected.delete(newId);
    clearTimeout(this.deferred.get(newId));
    this.deferred.delete(newId);
    clearTimeout(peer.leftTimer);
    peer.leftTimer = undefined;
    this.recompute();
  }

  private onPeerJoined(id: string, parked = false): void {
    if (this.current.state === 'ended' || id === this.selfId) return;
    const existing = this.peers.get(id);
    if (existing) {
      // The same peer came back (resumed its signaling): nothing to redo unless ICE dropped.
      clearTimeout(existing.leftTimer);
      existing.leftTimer = undefined;
      existing.signalingGone = false;
      if (['disconnected', 'failed'].includes(existing.pc.iceConnectionState)) existing.pc.restartIce();
      return;
    }
    if (this.peers.size >= this.maxPeers) return;
    // Someone we are still connected to may be coming back under a new id (their server-side
    // session was lost): give their 'peer-id' message over the data channel a moment first.
    if ([...this.peers.values()].some((p) => p.signalingGone)) {
      this.deferInitiate(id, this.rekeyWaitMs);
      this.recompute();
      return;
    }
    // We were here first: we offer, with the offer made while we waited if there is one (or
    // the server already gave it to them: it was parked).
    this.createPeer(id, true, this.takePrepared(parked));
  }

  private onPeerLeft(id: string): void {
    this.expected.delete(id);
    const peer = this.peers.get(id);
    if (peer && !peer.closed) {
      if (peer.everConnected) peer.signalingGone = true;
      // Leaving signaling is not leaving the call (their service worker may have restarted):
      // a connected peer stays; one that never connected gets a grace period to come back.
      if (!peer.everConnected && !peer.leftTimer) {
        peer.leftTimer = setTimeout(() => {
          if (!peer.everConnected) this.endPeer(peer, 'left');
        }, this.disconnectGraceMs);
      }
    }
    this.recompute();
  }

  private onSignalingError(code: string, message: string): void {
    switch (code) {
      case 'room-full':
        this.end('room-full', 'This call is full. Ask for a new link.');
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
    let peer = this.peers.get(from);
    if (!peer) {
      if (signal.kind !== 'description' || signal.description.type !== 'offer') return;
      if (this.peers.size >= this.maxPeers) return;
      peer = this.createPeer(from, false);
    }
    const target = peer;
    target.incoming = target.incoming
      // A new connection may have replaced this one meanwhile: what follows its offer is for it.
      .then(() => this.handleSignal(this.latest(target), signal))
      .catch((err: unknown) => {
        if (!target.closed)
          console.warn('Parley: could not apply a signal', err instanceof Error ? err.name : err);
      });
  }

  private async handleSignal(peer: Peer, signal: PeerSignal): Promise<void> {
    if (peer.closed || this.current.state === 'ended') return;
    const { pc } = peer;
    switch (signal.kind) {
      case 'bye':
        peer.byeReceived = true;
        this.endPeer(peer, 'remote-hangup');
        return;
      case 'candidate':
        if (!signal.candidate || peer.linkLost) return;
        if (peer.relayOnly && isHostCandidate(signal.candidate.candidate ?? '')) return;
        try {
          await pc.addIceCandidate(signal.candidate);
        } catch (err) {
          // Candidates for an offer we ignored in a collision are expected to fail.
          if (!peer.ignoreOffer) throw err;
        }
        return;
      case 'description':
        await this.handleDescription(peer, signal);
        return;
    }
  }

  private async handleDescription(current: Peer, signal: DescriptionSignal): Promise<void> {
    let peer = current;
    const { description } = signal;
    const key = await this.keyPromise;
    const verified = await verifyDescription(key, peer.id, description.sdp, signal.auth);
    if (!verified) {
      if (peer.everConnected) {
        // We hold a verified connection to this person: whoever sent this cannot touch it.
        console.warn('Parley: refused a description that does not verify');
        return;
      }
      this.end('unverified', 'This call could not be verified: the connection may be intercepted.');
      return;
    }
    if (peer.closed || this.current.state === 'ended') return;
    const fingerprints = fingerprintLines(description.sdp).join('\n');
    if (
      description.type === 'offer' &&
      peer.remoteFingerprints !== null &&
      fingerprints !== peer.remoteFingerprints
    ) {
      // The same person on a new connection (their page was re-mounted, or reloaded).
      if (this.isWorking(peer)) {
        peer.parked = { signal, at: performance.now() };
        return;
      }
      peer = this.replacePeer(peer);
    } else if (peer.linkLost) {
      return; // For the connection that is over.
    }
    const { pc } = peer;
    const readyForOffer =
      !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingRemoteAnswerPending);
    const offerCollision = description.type === 'offer' && !readyForOffer;
    peer.ignoreOffer = !this.isPolite(peer) && offerCollision;
    if (peer.ignoreOffer) return;
    peer.settingRemoteAnswerPending = description.type === 'answer';
    await pc.setRemoteDescription(
      peer.relayOnly ? { type: description.type, sdp: withoutHostCandidates(description.sdp) } : description,
    );
    peer.settingRemoteAnswerPending = false;
    peer.remoteFingerprints = fingerprints;
    if (description.type === 'offer') {
      // Reuse the offer's transceivers for our media, so the answer carries it (no 2nd round).
      if (!peer.attached) this.attachLocal(peer);
      await pc.setLocalDescription();
      this.sendDescription(peer);
    }
  }

  // ---------- peers ----------

  /** A connection that carries the call right now: connected, data channels not lost. */
  private isWorking(peer: Peer): boolean {
    return !peer.linkLost && peer.pc.connectionState === 'connected';
  }

  /** The peer now in charge of this one's signals (itself, or the one that replaced it). */
  private latest(peer: Peer): Peer {
    let p = peer;
    while (p.closed && p.successor) p = p.successor;
    return p;
  }

  /**
   * Close this connection and start a new one to the same person, under the same key (the UI
   * keeps the tile; the panels see the link close and, once the new one opens, a new link).
   * Signals already queued for the old one run after, on the new one.
   */
  private replacePeer(old: Peer): Peer {
    const linked = old.linkOpen;
    this.closePeer(old);
    this.peers.delete(old.id);
    if (linked) {
      old.linkOpen = false;
      this.events.emit('linkClosed', old.key, 'lost');
    }
    const fresh = this.createPeer(old.id, false, null, old);
    old.successor = fresh;
    return fresh;
  }

  /** Lower signaling id is polite: both sides agree without talking about it. */
  private isPolite(peer: Peer): boolean {
    return (this.selfId ?? '') < peer.id;
  }

  private rtcIceServers(): RTCIceServer[] {
    return this.iceServers.map((s) => ({ ...s }));
  }

  /** The prepared offer, if there is one still good to use (once). */
  /** `parked`: the server says our parked message went to the peer this is for. */
  private takePrepared(parked = false): PreparedTake | null {
    const prepared = this.prepared;
    this.prepared = null;
    const wasParked = prepared !== null && this.parked === prepared;
    // Which of our parks went is not said: count on the oldest (the fewest candidates), so
    // that every candidate it may lack is sent. A later park may still be held: drop it.
    const delivered = parked && wasParked ? (prepared.parkedSdps[0] ?? null) : null;
    if (parked && wasParked && prepared.parkedSdps.length === 1) this.parked = null;
    else this.unpark();
    if (!prepared) return null;
    if (!prepared.offer.usable) {
      prepared.offer.close();
      return null;
    }
    const ours = prepared.selfId === this.selfId;
    return {
      offer: prepared.offer,
      auth: ours ? prepared.auth : null,
      signed: ours ? prepared.signed : null,
      delivered: ours ? delivered : null,
    };
  }

  private createPeer(
    id: string,
    initiator: boolean,
    prepared: PreparedTake | null = null,
    /** The connection to the same person that this one replaces. */
    previous: Peer | null = null,
  ): Peer {
    this.expected.delete(id);
    clearTimeout(this.deferred.get(id));
    this.deferred.delete(id);
    const config: RTCConfiguration = { ...PEER_CONNECTION_BASE, iceServers: this.rtcIceServers() };
    const adopted = prepared?.offer.take() ?? null;
    const spare = adopted ? null : this.spare;
    if (spare) this.spare = null;
    const pc =
      adopted?.pc ?? spare ?? this.options.createPeerConnection?.(config) ?? new RTCPeerConnection(config);
    const peer: Peer = {
      key: previous?.key ?? id,
      id,
      pc,
      makingOffer: false,
      ignoreOffer: false,
      settingRemoteAnswerPending: false,
      attached: false,
      control: null,
      files: null,
      audioSender: null,
      videoSender: null,
      name: previous?.name ?? 'Guest',
      stream: null,
      micOn: previous?.micOn ?? true,
      cameraOn: previous?.cameraOn ?? this.options.media === 'video',
      connection: previous?.everConnected ? 'reconnecting' : 'connecting',
      everConnected: previous?.everConnected ?? false,
      signalingGone: false,
      linkOpen: false,
      linkLost: false,
      remoteFingerprints: null,
      successor: null,
      parked: null,
      byeReceived: false,
      closed: false,
      incoming: previous?.incoming ?? Promise.resolve(),
      outgoing: Promise.resolve(),
      graceTimer: undefined,
      setupTimer: undefined,
      setupRetries: 0,
      leftTimer: undefined,
      sampler: null,
      stats: null,
      watchdog: null,
      relayOnly: false,
    };
    peer.watchdog = this.watchMedia(peer);
    this.peers.set(id, peer);

    pc.onnegotiationneeded = async () => {
      if (peer.closed) return;
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        this.sendDescription(peer);
      } catch (err) {
        if (!peer.closed)
          console.warn('Parley: could not make an offer', err instanceof Error ? err.name : err);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && !peer.closed) this.sendCandidate(peer, candidate);
    };
    pc.ontrack = ({ track }) => {
      if (peer.closed) return;
      if (!peer.stream) peer.stream = new MediaStream();
      if (!peer.stream.getTracks().includes(track)) peer.stream.addTrack(track);
      track.onunmute = () => this.emitPeer(peer);
      track.onmute = () => this.emitPeer(peer);
      this.emitPeer(peer);
    };
    pc.oniceconnectionstatechange = () => {
      // ICE restart on failure (MDN): both sides may try; perfect negotiation sorts it out.
      if (pc.iceConnectionState === 'failed' && !peer.closed) pc.restartIce();
    };
    pc.onconnectionstatechange = () => this.onConnectionState(peer);
    // A replacement must connect within the grace period, or the person is lost.
    if (previous) this.startGrace(peer);
    else this.watchSetup(peer);

    if (prepared && adopted) {
      if (prepared.delivered !== null) {
        // The server handed the parked offer over with the peer's `joined`: only candidates
        // gathered since it was parked remain to send.
        this.sendEarlyCandidates(peer, adopted.candidates, prepared.delivered);
      } else if (prepared.signed !== null && prepared.offer.isReady && pc.localDescription) {
        // Ready and signed: out now, before the tracks go in and the UI hears of the new
        // peer, all of which the other side does not need to wait for.
        this.options.signaling.send(id, signedOffer(pc.localDescription.sdp, prepared.signed));
        this.sendEarlyCandidates(peer, adopted.candidates);
      } else {
        void this.sendPreparedOffer(peer, prepared.offer, prepared.auth, adopted.candidates);
      }
      this.attachLocal(peer, prepared.offer);
    } else if (initiator) {
      this.attachLocal(peer);
    }
    this.emitPeer(peer);
    this.recompute();
    return peer;
  }

  /**
   * Send the offer that was made while we waited, with its signature if our id is still the
   * one it was signed for. Candidates gathered before are in the description already; any
   * that are not follow it.
   */
  private async sendPreparedOffer(
    peer: Peer,
    prepared: PreparedOffer,
    auth: Promise<string> | null,
    early: RTCIceCandidate[],
  ): Promise<void> {
    const { pc } = peer;
    peer.makingOffer = true;
    try {
      let presigned = auth;
      try {
        await prepared.ready;
      } catch {
        // The prepared description failed: make one the ordinary way.
        presigned = null;
        await pc.setLocalDescription();
      }
      if (peer.closed) return;
      this.sendDescription(peer, presigned);
      this.sendEarlyCandidates(peer, early);
    } catch (err) {
      if (!peer.closed)
        console.warn('Parley: could not send the offer', err instanceof Error ? err.name : err);
    } finally {
      peer.makingOffer = false;
    }
  }

  /** Candidates gathered before the offer was taken that the description sent does not hold. */
  private sendEarlyCandidates(
    peer: Peer,
    early: RTCIceCandidate[],
    sentSdp = peer.pc.localDescription?.sdp ?? '',
  ): void {
    const inDescription = candidatesIn(sentSdp);
    for (const candidate of early) {
      if (candidate.candidate && !inDescription.has(candidateKey(candidate.candidate)))
        this.sendCandidate(peer, candidate);
    }
  }

  /**
   * Add our tracks and the two pre-negotiated data channels; with a prepared offer, put our
   * tracks into its senders (no renegotiation) and use its channels.
   */
  private attachLocal(peer: Peer, prepared?: PreparedOffer): void {
    peer.attached = true;
    const { pc } = peer;
    if (prepared) {
      peer.audioSender = prepared.audio.sender;
      peer.videoSender = prepared.video?.sender ?? null;
      this.wireChannels(peer, prepared.control, prepared.files);
    } else {
      // Senders exist whether or not the devices are ready (or the camera is on): our tracks
      // go in and out with replaceTrack, never with a renegotiation.
      peer.audioSender = this.senderFor(pc, 'audio');
      if (this.options.media === 'video') peer.videoSender = this.senderFor(pc, 'video');
      const { control, files } = createCallChannels(pc);
      this.wireChannels(peer, control, files);
    }
    this.fillSenders(peer);
  }

  /** A sending transceiver of this kind: the remote offer's if it has a free one, else a new one. */
  private senderFor(pc: RTCPeerConnection, kind: 'audio' | 'video'): RTCRtpSender {
    const reusable = pc
      .getTransceivers()
      .find(
        (t) =>
          t.receiver.track.kind === kind &&
          !t.sender.track &&
          t.mid !== null &&
          t.direction !== 'sendrecv' &&
          t.currentDirection !== 'stopped',
      );
    if (reusable) {
      reusable.direction = 'sendrecv';
      return reusable.sender;
    }
    return pc.addTransceiver(kind, { direction: 'sendrecv' }).sender;
  }

  /** Put our current microphone and camera tracks (or nothing yet) into a peer's senders. */
  private fillSenders(peer: Peer): void {
    const local = this.localMedia;
    void peer.audioSender?.replaceTrack(local?.audioTrack ?? null).catch(() => {});
    void peer.videoSender?.replaceTrack(local?.cameraEnabled ? local.videoTrack : null).catch(() => {});
  }

  private wireChannels(peer: Peer, control: RTCDataChannel, files: RTCDataChannel): void {
    peer.control = control;
    peer.files = files;
    const onOpen = () => {
      if (control.readyState === 'open' && files.readyState === 'open') this.onLinkOpen(peer);
    };
    control.addEventListener('open', onOpen);
    files.addEventListener('open', onOpen);
    control.addEventListener('message', (ev: MessageEvent) => this.onControlMessage(peer, ev.data));
    const onClose = () => {
      if (peer.closed || peer.linkLost || this.current.state === 'ended') return;
      if (peer.everConnected && !peer.byeReceived) this.onLinkLost(peer);
      else this.endPeer(peer, peer.byeReceived ? 'remote-hangup' : 'lost');
    };
    control.addEventListener('close', onClose);
    files.addEventListener('close', onClose);
  }

  /**
   * The data channels closed without a bye: the other side closed its connection (its page
   * went away: a tab closing, or the extension's overlay being re-mounted). Nothing on this
   * connection can come back (ICE may even say 'connected' for seconds more), so close it
   * here too, show the person as reconnecting, and wait for their new connection (or a bye
   * from their service worker) for the grace period.
   */
  private onLinkLost(peer: Peer): void {
    peer.linkLost = true;
    if (peer.linkOpen) {
      peer.linkOpen = false;
      this.events.emit('linkClosed', peer.key, 'lost');
    }
    this.closeConnection(peer);
    peer.stream = null;
    peer.stats = null;
    peer.connection = 'reconnecting';
    clearTimeout(peer.graceTimer);
    peer.graceTimer = undefined;
    this.startGrace(peer);
    this.emitPeer(peer);
    this.recompute();
    this.takeParked(peer);
  }

  /** The connection stopped working: a recent offer for its successor can now take over. */
  private takeParked(peer: Peer): void {
    const parked = peer.parked;
    peer.parked = null;
    if (!parked || performance.now() - parked.at > this.disconnectGraceMs) return;
    peer.incoming = peer.incoming
      .then(() => {
        if (this.latest(peer) === peer && !peer.closed) return this.handleDescription(peer, parked.signal);
      })
      .catch((err: unknown) => {
        if (!peer.closed)
          console.warn('Parley: could not apply a signal', err instanceof Error ? err.name : err);
      });
  }

  /**
   * Insurance for a first connection that never connects although signaling completed: ICE
   * can stay "checking" with no working pair and no failure for a long time (candidates lost
   * on the way, a network that changed under the gathering). Browsers then leave the person
   * on "Connecting…"; we restart ICE, which gathers and checks anew. Both sides watch; the
   * impolite one acts first so that the two restarts rarely collide (perfect negotiation
   * settles it if they do).
   */
  private watchSetup(peer: Peer): void {
    const delay = this.setupRetryMs * (this.isPolite(peer) ? 1.5 : 1);
    clearTimeout(peer.setupTimer);
    peer.setupTimer = setTimeout(() => {
      peer.setupTimer = undefined;
      if (peer.closed || peer.everConnected || this.isEnded()) return;
      const { pc } = peer;
      const negotiated = pc.signalingState === 'stable' && pc.remoteDescription !== null;
      if (negotiated && pc.connectionState !== 'connected') {
        if (peer.setupRetries >= SETUP_RETRIES) {
          // Out of tries: say so, rather than "Connecting…" forever. (It may still connect.)
          this.setupNotice(NO_CONNECTION_NOTICE);
          return;
        }
        peer.setupRetries++;
        // Direct paths had their chance: try again through the TURN relay only, if there is
        // one (a relay path is what works behind the strictest networks, and a TURN
        // allocation can die under a pair to an unreachable address; see watchMedia).
        const relay = this.useRelayOnly(peer);
        console.info(
          `Parley: no connection after ${delay} ms; restarting ICE${relay ? ' through the relay only' : ''} (${peer.setupRetries})`,
        );
        pc.restartIce();
        this.setupNotice(STILL_CONNECTING_NOTICE);
      }
      this.watchSetup(peer);
    }, delay);
  }

  /**
   * Media that stopped on a connection that may still say "connected" (see MediaWatchdog):
   * the person shows as reconnecting, ICE restarts, then restarts through the relay only
   * (remote host candidates are then ignored: relaying to them is what can kill a TURN
   * allocation), and the peer is lost if nothing brings media back.
   */
  private watchMedia(peer: Peer): MediaWatchdog {
    return new MediaWatchdog(
      {
        restart: (relayOnly) => {
          if (peer.closed || this.isEnded()) return;
          // Relay-only at once if the pair that died went through the relay: a plain restart
          // tends to pick the same kind of pair again.
          const relay = (relayOnly || peer.stats?.relayed === true) && this.useRelayOnly(peer);
          console.info(`Parley: no media received; restarting ICE${relay ? ' through the relay only' : ''}`);
          peer.pc.restartIce();
        },
        stalled: (stalled) => {
          if (peer.closed) return;
          if (stalled && peer.everConnected) peer.connection = 'reconnecting';
          else if (!stalled && peer.pc.connectionState === 'connected') peer.connection = 'connected';
          this.emitPeer(peer);
          this.recompute();
        },
        lost: () => {
          if (!peer.closed && !this.isEnded()) this.endPeer(peer, 'lost');
        },
      },
      this.options.mediaWatchdog,
    );
  }

  /** Relay-only from the next ICE restart on, if a TURN server is configured; true if so. */
  private useRelayOnly(peer: Peer): boolean {
    if (peer.relayOnly) return true;
    const hasTurn = this.iceServers.some((s) =>
      (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^turns?:/.test(u)),
    );
    if (!hasTurn) return false;
    try {
      peer.pc.setConfiguration({ ...peer.pc.getConfiguration(), iceTransportPolicy: 'relay' });
      peer.relayOnly = true;
    } catch (err) {
      console.warn('Parley: could not switch to relay-only', err instanceof Error ? err.name : err);
    }
    return peer.relayOnly;
  }

  /** A notice about a first connection that is slow to come (cleared when one connects). */
  private setupNotice(message: string): void {
    this.setupNoticeShown = true;
    this.events.emit('notice', message);
  }

  /** End this peer as lost unless its connection is working within the grace period. */
  private startGrace(peer: Peer): void {
    if (peer.graceTimer) return;
    peer.graceTimer = setTimeout(() => {
      peer.graceTimer = undefined;
      if (!this.isWorking(peer)) this.endPeer(peer, 'lost');
    }, this.disconnectGraceMs);
  }

  private onLinkOpen(peer: Peer): void {
    if (peer.linkOpen || peer.closed || !peer.control || !peer.files) return;
    peer.linkOpen = true;
    this.sendControl(peer, { t: 'hello', name: cleanDisplayName(this.options.localName) });
    this.sendControl(peer, { t: 'media', audio: this.micOn, video: this.cameraOn });
    const sctpMax = peer.pc.sctp?.maxMessageSize;
    const link: DataLink = {
      peerId: peer.key,
      control: peer.control,
      files: peer.files,
      maxMessageSize: Math.min(typeof sctpMax === 'number' && sctpMax > 0 ? sctpMax : 65_536, MAX_FRAME),
      remoteName: () => peer.name,
    };
    this.events.emit('link', link);
  }

  private onControlMessage(peer: Peer, data: unknown): void {
    if (peer.closed) return;
    const parsed = parsePeerCallMessage(data);
    if (parsed.kind === 'other') return;
    if (parsed.kind === 'invalid') {
      if (typeof data === 'string') console.warn('Parley: ignored a malformed control message from the peer');
      return;
    }
    const message = parsed.message;
    switch (message.t) {
      case 'hello':
        peer.name = cleanDisplayName(message.name);
        this.emitPeer(peer);
        return;
      case 'media':
        peer.micOn = message.audio;
        peer.cameraOn = message.video;
        this.emitPeer(peer);
        return;
      case 'bye':
        peer.byeReceived = true;
        this.endPeer(peer, 'remote-hangup');
        return;
      case 'peer-id':
        this.rekey(peer, message.peerId);
        return;
    }
  }

  private onConnectionState(peer: Peer): void {
    if (peer.closed) return;
    const state = peer.pc.connectionState;
    if (state === 'connected') {
      clearTimeout(peer.graceTimer);
      peer.graceTimer = undefined;
      clearTimeout(peer.setupTimer);
      peer.setupTimer = undefined;
      peer.connection = 'connected';
      if (!peer.everConnected) {
        peer.everConnected = true;
        clearTimeout(peer.leftTimer);
        peer.leftTimer = undefined;
        if (this.connectedAt === null) this.connectedAt = performance.now();
        if (this.setupNoticeShown) {
          this.setupNoticeShown = false;
          this.events.emit('notice', null);
        }
      }
      if (!peer.sampler) {
        peer.sampler = new StatsSampler(peer.pc, (sample) => {
          peer.stats = sample;
          this.emitPeer(peer);
          peer.watchdog?.observe(sample.totals.packetsReceived, sample.timestamp);
        });
        peer.sampler.start();
      }
    } else if (state === 'disconnected' || state === 'failed') {
      if (peer.everConnected) peer.connection = 'reconnecting';
      if (state === 'failed') peer.pc.restartIce();
      this.startGrace(peer);
      this.takeParked(peer);
    }
    this.emitPeer(peer);
    this.recompute();
  }

  /** One peer is gone. When it was the last one, the call ends (or waits again). */
  private endPeer(peer: Peer, reason: PeerEndReason): void {
    if (peer.closed) return;
    const wasInCall = peer.everConnected || reason === 'remote-hangup';
    this.closePeer(peer);
    this.peers.delete(peer.id);
    if (peer.linkOpen)
      this.events.emit('linkClosed', peer.key, reason === 'remote-hangup' ? 'hangup' : reason);
    this.events.emit('peerRemoved', peer.key, reason);
    if (this.peers.size === 0 && wasInCall && this.current.state !== 'ended') {
      if (reason === 'remote-hangup') {
        this.end(
          'remote-hangup',
          peer.name === 'Guest' ? 'The other person hung up.' : `${peer.name} hung up.`,
        );
      } else {
        this.end('lost', 'Connection lost');
      }
      return;
    }
    this.recompute();
  }

  private closePeer(peer: Peer, flushFirst = false): void {
    peer.closed = true;
    clearTimeout(peer.graceTimer);
    clearTimeout(peer.setupTimer);
    clearTimeout(peer.leftTimer);
    this.closeConnection(peer, flushFirst);
  }

  private closeConnection(peer: Peer, flushFirst = false): void {
    peer.sampler?.stop();
    peer.sampler = null;
    const { pc, control } = peer;
    pc.onnegotiationneeded = null;
    pc.onicecandidate = null;
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    pc.oniceconnectionstatechange = null;
    // Let a queued 'bye' leave before the connection closes (bounded wait).
    if (flushFirst && control && control.readyState === 'open' && control.bufferedAmount > 0) {
      const deadline = setTimeout(() => pc.close(), 300);
      control.bufferedAmountLowThreshold = 0;
      control.addEventListener('bufferedamountlow', () => {
        clearTimeout(deadline);
        pc.close();
      });
    } else {
      pc.close();
    }
  }

  // ---------- sending ----------

  /** `presigned`: a MAC already made over this description's fingerprints with our id. */
  private sendDescription(peer: Peer, presigned: Promise<string> | null = null): void {
    const local = peer.pc.localDescription;
    if (!local || (local.type !== 'offer' && local.type !== 'answer')) return;
    // Capture now: the description may change while the MAC is computed.
    const description = { type: local.type, sdp: local.sdp };
    const selfId = this.selfId ?? '';
    peer.outgoing = peer.outgoing
      .then(async () => {
        const auth =
          (await presigned?.catch(() => null)) ??
          (await signDescription(await this.keyPromise, selfId, description.sdp));
        if (!peer.closed) this.options.signaling.send(peer.id, { kind: 'description', description, auth });
      })
      .catch(() => {});
  }

  private sendCandidate(peer: Peer, candidate: RTCIceCandidate): void {
    const init = candidate.toJSON();
    this.sendSignal(peer, {
      kind: 'candidate',
      candidate: {
        candidate: init.candidate ?? '',
        sdpMid: init.sdpMid ?? null,
        sdpMLineIndex: init.sdpMLineIndex ?? null,
        usernameFragment: init.usernameFragment ?? null,
      },
    });
  }

  private sendSignal(peer: Peer, signal: PeerSignal): void {
    peer.outgoing = peer.outgoing
      .then(() => {
        if (!peer.closed) this.options.signaling.send(peer.id, signal);
      })
      .catch(() => {});
  }

  private sendControl(peer: Peer, message: PeerCallMessage): void {
    if (peer.control?.readyState !== 'open') return;
    try {
      peer.control.send(JSON.stringify(message));
    } catch {
      // Closing: the close handler decides what happens.
    }
  }

  private localChanged(): void {
    const state = { micOn: this.micOn, cameraOn: this.cameraOn };
    for (const peer of this.peers.values()) {
      this.sendControl(peer, { t: 'media', audio: state.micOn, video: state.cameraOn });
    }
    this.events.emit('local', state);
  }

  // ---------- state ----------

  /** `farewell` false: no bye and no leave (see detach). */
  private end(reason: EndReason, message: string, immediate = true, farewell = true): void {
    if (this.current.state === 'ended') return;
    if (reason === 'hangup' && farewell) {
      for (const peer of this.peers.values()) {
        this.sendControl(peer, { t: 'bye' });
        if (!peer.closed) this.options.signaling.send(peer.id, { kind: 'bye' } satisfies PeerSignal);
      }
    }
    for (const peer of this.peers.values()) {
      this.closePeer(peer, reason === 'hangup' && !immediate);
      if (peer.linkOpen) {
        this.events.emit(
          'linkClosed',
          peer.key,
          reason === 'hangup' || reason === 'remote-hangup' ? 'hangup' : 'lost',
        );
      }
    }
    this.peers.clear();
    this.dropSpares();
    this.expected.clear();
    for (const timer of this.deferred.values()) clearTimeout(timer);
    this.deferred.clear();
    this.localMedia?.stop();
    for (const off of this.unsubscribe.splice(0)) off();
    if (farewell) this.options.signaling.leave();
    if (typeof removeEventListener === 'function') removeEventListener('pagehide', this.onPageHide);
    this.setStatus({ state: 'ended', reason, message });
  }

  /** A method, not a field read, so TypeScript does not narrow it across awaits. */
  private isEnded(): boolean {
    return this.current.state === 'ended';
  }

  private recompute(): void {
    if (this.current.state === 'ended') return;
    const peers = [...this.peers.values()];
    let state: CallState;
    if (peers.some((p) => p.connection === 'connected')) state = 'connected';
    else if (peers.some((p) => p.connection === 'reconnecting')) state = 'reconnecting';
    else if (peers.length > 0 || this.expected.size > 0) state = 'connecting';
    else state = 'waiting';
    if (state !== this.current.state) this.setStatus({ state });
    // Alone again (someone left before connecting): be ready for the next one.
    if (state === 'waiting') this.prepareOffer();
  }

  private setStatus(status: CallStatus): void {
    this.current = status;
    this.events.emit('status', status);
  }

  private view(peer: Peer): RemotePeer {
    return {
      peerId: peer.key,
      name: peer.name,
      stream: peer.stream,
      micOn: peer.micOn,
      cameraOn: peer.cameraOn,
      connection: peer.connection,
      stats: peer.stats,
    };
  }

  private emitPeer(peer: Peer): void {
    if (!peer.closed) this.events.emit('peer', this.view(peer));
  }
}
