/**
 * One remote person in the call: a stable key (what the UI and the panels know them by), their
 * current signaling id (it changes if their server-side session was lost), their name and
 * mute state, their tracks by source, and the connection that carries them now
 * (src/call/peer-connection.ts).
 *
 * The same person may come back on a new connection: the extension re-mounts its overlay when
 * a page deletes it, and the new page, with the same signaling id, offers again with new DTLS
 * fingerprints. A verified offer whose fingerprints differ from the ones we connected to
 * replaces the connection, but only if it is not working ('connected', not closed): a
 * replayed old offer cannot break a live call. One that comes while the connection still
 * looks alive (the close of our data channels can be lost on the network; then only ICE
 * notices, seconds later) is kept aside and taken if the connection fails soon after. The
 * person keeps their tile and their PeerLink (src/call/peer-link.ts): it pauses while the
 * connection is down and the new connection's channels re-attach to it, so chat and file
 * transfers continue. The call's own control messages (hello, media, bye, peer-id) are
 * routed to this class by that link, like chat's and files' to theirs.
 *
 * The person's lifecycle is one state (`ParticipantState`); the connection's is its phase.
 */
import { cleanDisplayName, PEER_CALL_TYPES, parsePeerCallObject } from '../protocol/peer-call.ts';
import type { DescriptionSignal, PeerSignal } from '../protocol/peer-signal.ts';
import type { DescriptionAuth } from './description-auth.ts';
import type { LocalTracks } from './local-tracks.ts';
import { sdpOrigin } from './lost-signals.ts';
import { MediaWatchdog, type MediaWatchdogOptions } from './media-watchdog.ts';
import { PeerConnection } from './peer-connection.ts';
import { type ControlMessage, PeerLink } from './peer-link.ts';
import type { StatsSample } from './stats.ts';
import { fingerprintLines } from './verify.ts';
import { SetupWatchdog } from './watchdog.ts';

export type PeerEndReason = 'remote-hangup' | 'lost' | 'left';

/** How long a closed connection waits for the person's own new one before we offer one. */
const REDIAL_DELAY_MS = 1500;

/**
 * Where a remote track comes from. A screen share's video (and its tab audio) are told from
 * the camera (and microphone) by the stream id the person announces for them over the
 * control channel (`{t: 'screen'}`), not by kind: a screen is a second video track.
 */
export type TrackSource = 'microphone' | 'camera' | 'screen' | 'screen-audio';

export type ParticipantState =
  /** No connection to them has connected yet. */
  | { kind: 'arriving' }
  /** Connected at least once. `signaling`: whether the server still lists their id. */
  | { kind: 'in-call'; signaling: 'present' | 'gone' }
  /**
   * Their connection's data channels closed without a bye: it is over for good (closed here
   * too), and we wait the grace period for the same person's new connection.
   */
  | { kind: 'lost'; signaling: 'present' | 'gone' }
  | { kind: 'gone'; reason: PeerEndReason };

/** What the UI shows about one remote person. */
export interface RemotePeer {
  readonly peerId: string;
  /** From their 'hello'; 'Guest' until then. */
  readonly name: string;
  /** Their microphone and camera together, as a tile plays them; null until a track arrives. */
  readonly stream: MediaStream | null;
  /** The same tracks by source. */
  readonly tracks: Readonly<Partial<Record<TrackSource, MediaStreamTrack>>>;
  /**
   * What they share (screen video, and tab audio if any), as its own tile plays it; null when
   * they are not sharing or its video has not arrived yet. A new stream for every share.
   */
  readonly screen: MediaStream | null;
  readonly micOn: boolean;
  readonly cameraOn: boolean;
  readonly connection: 'connecting' | 'connected' | 'reconnecting';
  readonly stats: StatsSample | null;
}

/** What a participant needs from the call it is in. */
export interface ParticipantHost {
  readonly auth: DescriptionAuth;
  readonly tracks: LocalTracks;
  /** How long a connection may stay down (or a replacement take) before the person is lost. */
  readonly graceMs: number;
  /**
   * How long a person whose page went (connection closed without a bye, and the server says
   * they left) may take to come back under the same id, as a reloading guest page does.
   */
  readonly returnWaitMs: number;
  readonly setupRetryMs: number;
  /** When media stops on a connection (see MediaWatchdog); for tests. */
  readonly mediaWatchdog: MediaWatchdogOptions | undefined;
  /** A TURN server is configured (relay-only is possible). */
  hasTurn(): boolean;
  selfId(): string;
  localName(): string;
  callEnded(): boolean;
  /** A fresh RTCPeerConnection (for a replacement connection). */
  newPeerConnection(): RTCPeerConnection;
  send(to: string, signal: PeerSignal): void;
  /** Their view changed; `status`: so may the call's state. */
  changed(participant: RemoteParticipant, status: boolean): void;
  /** Their PeerLink opened for the first time (later connections re-attach to it). */
  linkOpened(link: PeerLink): void;
  /** They are gone for good (already closed). */
  ended(participant: RemoteParticipant, reason: PeerEndReason, wasInCall: boolean, hadLink: boolean): void;
  /** A connection connected for the first time. */
  firstConnected(): void;
  /** A description that does not verify came before any connection worked. */
  unverified(): void;
  /** They told us (over DTLS) their new signaling id. */
  rekey(participant: RemoteParticipant, newId: string): void;
  /** A sentence about a slow first connection (see SetupWatchdog). */
  setupNotice(message: string): void;
  /** No new packet for a second on a connection that had media (the network may have changed). */
  mediaStopped(): void;
}

export class RemoteParticipant {
  readonly key: string;
  /** What chat, files and identity talk to them through, whichever connection carries it. */
  readonly link: PeerLink;
  name = 'Guest';
  micOn = true;
  cameraOn: boolean;
  #state: ParticipantState = { kind: 'arriving' };
  #connection!: PeerConnection;
  #watchdog: SetupWatchdog | null = null;
  /** Restarts ICE (then relay-only) when inbound media stops; fed by the stats sampler. */
  #media!: MediaWatchdog;
  #stream: MediaStream | null = null;
  #tracks: Partial<Record<TrackSource, MediaStreamTrack>> = {};
  /** Remote tracks that came with stream ids (a share's come with the announced one). */
  #byStream = new Map<string, MediaStreamTrack[]>();
  /** The stream id they announced for their screen share; null when not sharing. */
  #screenId: string | null = null;
  #screen: MediaStream | null = null;
  #stats: StatsSample | null = null;
  /**
   * Whether the last pair that carried media went through a TURN relay (the stats after it
   * died may have no selected pair at all).
   */
  #relayedPath = false;
  /** A verified offer for a new connection that came while this one still looked alive. */
  #replacement: { signal: DescriptionSignal; at: number } | null = null;
  /** Serializes incoming signals (verification is async, order matters). */
  #incoming: Promise<void> = Promise.resolve();
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #leftTimer: ReturnType<typeof setTimeout> | undefined;
  #redialTimer: ReturnType<typeof setTimeout> | undefined;
  /** We offered a new connection after theirs closed (see #redialLater); not connected yet. */
  #redialing = false;

  constructor(
    private readonly host: ParticipantHost,
    /** Their current signaling id. */
    public id: string,
    pc: RTCPeerConnection,
  ) {
    this.key = id;
    this.link = new PeerLink(id, () => this.name);
    this.link.route(PEER_CALL_TYPES, (message) => this.#onCallMessage(message), { whilePaused: true });
    this.cameraOn = host.tracks.kind === 'video';
    this.#connect(pc, false);
  }

  get state(): ParticipantState {
    return this.#state;
  }

  get connection(): PeerConnection {
    return this.#connection;
  }

  /** Connected to us at least once (whatever the connection now). */
  get inCall(): boolean {
    return this.#state.kind === 'in-call' || this.#state.kind === 'lost';
  }

  get gone(): boolean {
    return this.#state.kind === 'gone';
  }

  /** Their signaling id is no longer in the room (they may come back under a new one). */
  get signalingGone(): boolean {
    return (
      (this.#state.kind === 'in-call' || this.#state.kind === 'lost') && this.#state.signaling === 'gone'
    );
  }

  get view(): RemotePeer {
    return {
      peerId: this.key,
      name: this.name,
      stream: this.#stream,
      tracks: { ...this.#tracks },
      screen: this.#screen,
      micOn: this.micOn,
      cameraOn: this.cameraOn,
      connection: this.#connectionView(),
      stats: this.#stats,
    };
  }

  /** Media stopped on the connection although it may say "connected" (see MediaWatchdog). */
  get mediaStalled(): boolean {
    return this.#media.stalled;
  }

  #connectionView(): RemotePeer['connection'] {
    if (this.#state.kind === 'arriving') return this.#connection.working ? 'connected' : 'connecting';
    return this.#state.kind === 'in-call' && this.#connection.working && !this.#media.stalled
      ? 'connected'
      : 'reconnecting';
  }

  /** A signal from them, in order with the others. */
  receive(signal: PeerSignal): void {
    this.#enqueue(() => this.#handle(signal));
  }

  #enqueue(task: () => Promise<void> | void): void {
    this.#incoming = this.#incoming
      .then(() => (this.gone || this.host.callEnded() ? undefined : task()))
      .catch((err: unknown) => {
        if (!this.gone)
          console.warn('Parley: could not apply a signal', err instanceof Error ? err.name : err);
      });
  }

  async #handle(signal: PeerSignal): Promise<void> {
    switch (signal.kind) {
      case 'bye':
        this.end('remote-hangup');
        return;
      case 'candidate':
        if (!signal.candidate || this.#state.kind === 'lost') return;
        await this.#connection.addCandidate(signal.candidate);
        return;
      case 'description':
        await this.#description(signal);
        return;
    }
  }

  async #description(signal: DescriptionSignal): Promise<void> {
    const { description } = signal;
    const verified = await this.host.auth.verify(this.id, description.sdp, signal.auth);
    if (!verified) {
      if (this.inCall) {
        // We hold a verified connection to this person: whoever sent this cannot touch it.
        console.warn('Parley: refused a description that does not verify');
        return;
      }
      this.host.unverified();
      return;
    }
    if (this.gone || this.host.callEnded()) return;
    const fingerprints = fingerprintLines(description.sdp).join('\n');
    let connection = this.#connection;
    // A new RTCPeerConnection of theirs: new fingerprints, or (after our connection was lost:
    // their redial, see #redialLater) a new SDP session with the same certificate (a contact
    // call's session keeps one certificate for all its connections).
    const session = sdpOrigin(description.sdp)?.id ?? null;
    const newSession =
      this.#state.kind === 'lost' && session !== null && session !== connection.remoteSession;
    if (
      description.type === 'offer' &&
      connection.remoteFingerprints !== null &&
      (fingerprints !== connection.remoteFingerprints || newSession)
    ) {
      // The same person on a new connection (their page was re-mounted, or reloaded).
      if (connection.working) {
        this.#replacement = { signal, at: performance.now() };
        return;
      }
      connection = this.#replace();
    } else if (this.#state.kind === 'lost') {
      return; // For the connection that is over.
    }
    await connection.accept(description, fingerprints);
  }

  /** Make the offer ourselves, with a fresh connection's own negotiation. */
  offer(): void {
    this.#connection.attach();
  }

  #connect(pc: RTCPeerConnection, replacing: boolean): PeerConnection {
    const connection: PeerConnection = new PeerConnection(
      pc,
      {
        auth: this.host.auth,
        send: (signal) => this.host.send(this.id, signal),
        selfId: () => this.host.selfId(),
        polite: () => this.polite(),
        track: (track, streamIds) => this.#onTrack(track, streamIds),
        stateChanged: () => this.#onConnectionState(),
        linkOpened: () => this.#onLinkOpen(),
        linkClosed: () => this.#onLinkClosed(),
        remoteRestart: () => {
          if (this.#connection === connection) this.#media.remoteRestart();
        },
        control: (data) => this.link.deliver(data),
      },
      this.host.tracks,
    );
    this.#connection = connection;
    this.#media = this.#watchMedia(connection);
    this.#watchdog?.stop();
    this.#watchdog = null;
    if (replacing) {
      // A replacement must connect within the grace period, or the person is lost.
      this.#startGrace();
    } else {
      this.#watchdog = new SetupWatchdog(
        {
          pc,
          done: () => connection.closed || this.inCall || this.host.callEnded(),
          polite: () => this.polite(),
          notice: (message) => this.host.setupNotice(message),
          relayOnly: () => connection.useRelayOnly(this.host.hasTurn()),
        },
        this.host.setupRetryMs,
      );
      this.#watchdog.start();
    }
    return connection;
  }

  /**
   * Media that stopped on a connection that may still say "connected": the person shows as
   * reconnecting, ICE restarts, then restarts through the relay only, and the person is lost
   * if nothing brings media back.
   */
  #watchMedia(connection: PeerConnection): MediaWatchdog {
    return new MediaWatchdog(
      {
        restart: (relayOnly) => {
          if (connection.closed || this.host.callEnded()) return;
          // Relay-only at once if the pair that died went through the relay: a plain restart
          // tends to pick the same kind of pair again.
          const relay = (relayOnly || this.#relayedPath) && connection.useRelayOnly(this.host.hasTurn());
          console.info(`Parley: no media received; restarting ICE${relay ? ' through the relay only' : ''}`);
          connection.restartIce();
        },
        stalled: () => {
          if (connection === this.#connection && !this.gone) this.host.changed(this, true);
        },
        quiet: () => {
          if (connection === this.#connection && !this.gone) this.host.mediaStopped();
        },
        lost: () => {
          if (connection === this.#connection && !this.host.callEnded()) this.end('lost');
        },
      },
      this.host.mediaWatchdog,
    );
  }

  /**
   * Our device's network changed: restart ICE now (through the relay only if the path that
   * carried media went through it, as the media watchdog would), and let the media watchdog
   * give this restart its time before one of its own.
   */
  networkChanged(): void {
    const connection = this.#connection;
    if (!this.inCall || connection.closed || this.host.callEnded()) return;
    const relay = this.#relayedPath && connection.useRelayOnly(this.host.hasTurn());
    console.info(`Parley: the network changed; restarting ICE${relay ? ' through the relay only' : ''}`);
    this.#media.remoteRestart();
    connection.restartIce();
  }

  /** Lower signaling id is polite: both sides agree without talking about it. */
  polite(): boolean {
    return this.host.selfId() < this.id;
  }

  /**
   * Close this connection and start a new one to the same person (the UI keeps the tile; the
   * panels see the link close and, once the new one opens, a new link). Signals queued after
   * the offer that caused it are for the new one.
   */
  #replace(): PeerConnection {
    const old = this.#connection;
    old.close();
    this.link.detach();
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    clearTimeout(this.#leftTimer);
    this.#leftTimer = undefined;
    this.#clearTracks();
    this.#relayedPath = false;
    if (this.inCall) this.#state = { kind: 'in-call', signaling: 'present' };
    const fresh = this.#connect(this.host.newPeerConnection(), true);
    this.host.changed(this, true);
    return fresh;
  }

  /**
   * A remote track. One sent in the announced screen stream is the share; any other is the
   * microphone or camera by kind, unless it came in a stream of its own while we have that
   * source already (a share whose announcement is still on its way: it waits for it).
   */
  #onTrack(track: MediaStreamTrack, streamIds: string[]): void {
    for (const id of streamIds) {
      const list = this.#byStream.get(id) ?? [];
      if (!list.includes(track)) list.push(track);
      this.#byStream.set(id, list);
    }
    track.onunmute = () => this.#emit();
    track.onmute = () => this.#emit();
    if (this.#screenId !== null && streamIds.includes(this.#screenId)) {
      this.#updateScreen();
      this.#emit();
      return;
    }
    const source: TrackSource = track.kind === 'audio' ? 'microphone' : 'camera';
    const current = this.#tracks[source];
    // In a stream of its own while we have that source (or, for video, in an audio call, which
    // has no camera): a share whose announcement is on its way.
    const share =
      streamIds.length > 0 &&
      ((current !== undefined && current !== track) ||
        (source === 'camera' && this.host.tracks.kind !== 'video'));
    if (share) return;
    this.#tracks[source] = track;
    if (!this.#stream) this.#stream = new MediaStream();
    if (!this.#stream.getTracks().includes(track)) this.#stream.addTrack(track);
    this.#emit();
  }

  /** The screen's tracks after an announcement or a new track: a fresh stream per share. */
  #updateScreen(): void {
    const tracks = this.#screenId === null ? [] : (this.#byStream.get(this.#screenId) ?? []);
    const video = tracks.find((t) => t.kind === 'video');
    const audio = tracks.find((t) => t.kind === 'audio');
    if (video) this.#tracks.screen = video;
    else delete this.#tracks.screen;
    if (audio) this.#tracks['screen-audio'] = audio;
    else delete this.#tracks['screen-audio'];
    if (!video) {
      this.#screen = null;
      return;
    }
    const shown = this.#screen?.getTracks() ?? [];
    const same = shown.length === tracks.length && tracks.every((t) => shown.includes(t));
    if (!same) this.#screen = new MediaStream(audio ? [video, audio] : [video]);
  }

  /** A share's track taken for the camera or microphone before its announcement came. */
  #unclaim(): void {
    const shared = [this.#tracks.screen, this.#tracks['screen-audio']];
    for (const source of ['camera', 'microphone'] as const) {
      const track = this.#tracks[source];
      if (!track || !shared.includes(track)) continue;
      delete this.#tracks[source];
      this.#stream?.removeTrack(track);
    }
  }

  #clearTracks(): void {
    this.#stream = null;
    this.#tracks = {};
    this.#byStream.clear();
    this.#screenId = null;
    this.#screen = null;
    this.#stats = null;
  }

  #onConnectionState(): void {
    const connection = this.#connection;
    const state = connection.pc.connectionState;
    if (state === 'connected') {
      clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
      this.#redialing = false;
      this.#watchdog?.stop();
      if (this.#state.kind === 'arriving') {
        this.#state = { kind: 'in-call', signaling: 'present' };
        clearTimeout(this.#leftTimer);
        this.#leftTimer = undefined;
        this.host.firstConnected();
      }
      const media = this.#media;
      connection.sampleStats((sample) => {
        const before = this.#stats?.totals.packetsReceived ?? 0;
        if (sample.relayed !== null && sample.totals.packetsReceived > before)
          this.#relayedPath = sample.relayed;
        this.#stats = sample;
        this.#emit();
        media.observe(sample.totals.packetsReceived, sample.timestamp);
      });
    } else if (state === 'disconnected' || state === 'failed') {
      if (state === 'failed') connection.restartIce();
      this.#startGrace();
      this.#takeReplacement();
    }
    this.host.changed(this, true);
  }

  #onLinkOpen(): void {
    const connection = this.#connection;
    connection.sendControl({ t: 'hello', name: cleanDisplayName(this.host.localName()) });
    connection.sendControl({ t: 'media', audio: this.host.tracks.micOn, video: this.host.tracks.cameraOn });
    if (this.host.tracks.screen) this.announceScreen();
    const link = connection.dataLink(this.key, () => this.name);
    if (!link) return;
    this.link.attach(link);
    if (this.link.attachments === 1) this.host.linkOpened(this.link);
  }

  /**
   * The data channels closed without a bye: the other side closed its connection (its page
   * went away: a tab closing, or the extension's overlay being re-mounted). Nothing on this
   * connection can come back (ICE may even say 'connected' for seconds more), so close it
   * here too, show the person as reconnecting, and wait for their new connection (or a bye
   * from their service worker) for the grace period.
   */
  #onLinkClosed(): void {
    const state = this.#state;
    if (state.kind !== 'arriving' && state.kind !== 'in-call') return; // gone, or lost already
    if (this.host.callEnded()) return;
    if (state.kind === 'arriving') {
      this.end('lost');
      return;
    }
    const connection = this.#connection;
    this.#state = { kind: 'lost', signaling: state.signaling };
    connection.close();
    this.link.detach();
    this.#clearTracks();
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#startGrace();
    // The server already said they left: their page went; it may be reloading.
    if (state.signaling === 'gone') this.#awaitReturn();
    this.host.changed(this, true);
    this.#takeReplacement();
    this.#redialLater();
  }

  /**
   * Their data channels closed while both of us are still in the call (the SCTP association
   * gave up after a network outage; a transport closed): nobody's page is new, so nobody would
   * offer. Unless a new connection of theirs comes first (a re-mounted overlay offers at once),
   * the impolite side offers a new connection after REDIAL_DELAY_MS; the PeerLink re-attaches
   * to it, so chat continues and file transfers resume from the receiver's offset.
   */
  #redialLater(): void {
    if (this.polite()) return;
    clearTimeout(this.#redialTimer);
    const lost = this.#connection;
    this.#redialTimer = setTimeout(() => {
      this.#redialTimer = undefined;
      const state = this.#state;
      if (this.#connection !== lost || state.kind !== 'lost' || state.signaling !== 'present') return;
      if (this.host.callEnded()) return;
      console.info('Parley: the connection closed while both sides are in the call; connecting again');
      this.#redialing = true;
      this.#replace();
      this.offer();
    }, REDIAL_DELAY_MS);
  }

  /** The connection stopped working: a recent offer for its successor can now take over. */
  #takeReplacement(): void {
    const replacement = this.#replacement;
    this.#replacement = null;
    if (!replacement || performance.now() - replacement.at > this.host.graceMs) return;
    const connection = this.#connection;
    this.#enqueue(() => {
      if (this.#connection === connection) return this.#description(replacement.signal);
    });
  }

  #onCallMessage(raw: ControlMessage): void {
    const message = parsePeerCallObject(raw);
    if (!message) {
      console.warn('Parley: ignored a malformed control message from the peer');
      return;
    }
    switch (message.t) {
      case 'hello':
        this.name = cleanDisplayName(message.name);
        this.#emit();
        return;
      case 'media':
        this.micOn = message.audio;
        this.cameraOn = message.video;
        this.#emit();
        return;
      case 'bye':
        this.end('remote-hangup');
        return;
      case 'peer-id':
        this.host.rekey(this, message.peerId);
        return;
      case 'screen':
        if (message.stream === this.#screenId) return;
        this.#screenId = message.stream;
        // A new share gets a new stream even if it reuses the same tracks.
        this.#screen = null;
        this.#updateScreen();
        this.#unclaim();
        this.#emit();
        return;
    }
  }

  /** End this person as lost unless their connection is working within the grace period. */
  #startGrace(): void {
    if (this.#graceTimer) return;
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = undefined;
      if (!this.#connection.working) this.end('lost');
    }, this.host.graceMs);
  }

  /** The server no longer lists their id. Not leaving the call (their worker may restart). */
  signalingLeft(): void {
    if (this.gone) return;
    if (this.#state.kind === 'lost' || (this.#redialing && !this.#connection.working)) {
      // Their connection closed without a bye and now their signaling left too: their page
      // went (an overlay that is re-mounted keeps the worker's socket). A closed tab does not
      // come back; a reloading guest page does, under the same id, within seconds.
      this.#state = { kind: this.#state.kind === 'lost' ? 'lost' : 'in-call', signaling: 'gone' };
      this.#awaitReturn();
      return;
    }
    if (this.#state.kind === 'in-call') {
      this.#state = { ...this.#state, signaling: 'gone' };
      return;
    }
    // One that never connected gets a grace period to come back.
    if (!this.#leftTimer) {
      this.#leftTimer = setTimeout(() => {
        if (!this.inCall) this.end('left');
      }, this.host.graceMs);
    }
  }

  /**
   * Their page went (no bye, the server says they left): gone as `left` unless their id comes
   * back within `returnWaitMs` (a reloaded guest page resumes it, then offers a new connection).
   */
  #awaitReturn(): void {
    if (this.#leftTimer) return;
    this.#leftTimer = setTimeout(() => {
      this.#leftTimer = undefined;
      if (this.gone || this.host.callEnded()) return;
      if (this.signalingGone && !this.#connection.working) this.end('left');
    }, this.host.returnWaitMs);
  }

  /** Their id is back in the room (their signaling resumed, or they told us their new one). */
  signalingBack(): void {
    clearTimeout(this.#leftTimer);
    this.#leftTimer = undefined;
    const returned = this.#state.kind === 'lost' && this.#state.signaling === 'gone';
    if (this.#state.kind === 'in-call' || this.#state.kind === 'lost')
      this.#state = { ...this.#state, signaling: 'present' };
    if (returned) {
      // They came back: a new connection gets the whole grace period. A reloaded page offers
      // it at once; if theirs does not come (the same page, its socket back), we offer.
      clearTimeout(this.#graceTimer);
      this.#graceTimer = undefined;
      this.#startGrace();
      this.#redialLater();
    }
  }

  /** Mark their signaling id as gone without ending anything (we got a new id ourselves). */
  signalingStale(): void {
    if (this.#state.kind === 'in-call' || this.#state.kind === 'lost')
      this.#state = { ...this.#state, signaling: 'gone' };
  }

  /** They are gone: close, and tell the call. */
  end(reason: PeerEndReason): void {
    if (this.gone) return;
    const wasInCall = this.inCall || reason === 'remote-hangup';
    const hadLink = this.close();
    this.#state = { kind: 'gone', reason };
    this.host.ended(this, reason, wasInCall, hadLink);
  }

  /**
   * Close everything of theirs (`flushFirst`: let a queued bye leave). True if their link had
   * opened (the panels hold it until told it closed).
   */
  close(flushFirst = false): boolean {
    const hadLink = this.link.close();
    if (!this.gone) this.#state = { kind: 'gone', reason: 'left' };
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#leftTimer);
    clearTimeout(this.#redialTimer);
    this.#watchdog?.stop();
    this.#connection.close(flushFirst);
    return hadLink;
  }

  /** Tell them over the data channel (dropped if it is not open). */
  /**
   * Tell them what we share (or that we stopped): the stream id our screen transceivers on
   * this connection are labelled with (src/call/screen-share.ts, ScreenSenders.streamId).
   */
  announceScreen(): void {
    const capture = this.host.tracks.screen;
    const stream = capture ? (this.#connection.senders.screen?.streamId ?? capture.stream.id) : null;
    this.#connection.sendControl({ t: 'screen', stream });
  }

  sendControl(message: Parameters<PeerConnection['sendControl']>[0]): void {
    this.#connection.sendControl(message);
  }

  #emit(): void {
    if (!this.gone) this.host.changed(this, false);
  }
}
