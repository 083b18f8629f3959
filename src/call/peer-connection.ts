/**
 * One RTCPeerConnection to one person, and what it takes to keep it negotiated.
 *
 * Negotiation is MDN's "perfect negotiation": each side may offer whenever
 * `negotiationneeded` fires; on a collision the *polite* peer rolls back and answers
 * (`ConnectionHooks.polite`: the lower signaling id, so both sides agree without a message).
 * ICE candidates are trickled; remote ones that come before the remote description wait for
 * it. A failed ICE connection restarts ICE. Signals lost in a signaling socket that died
 * without closing are made up for (./lost-signals.ts): an unanswered offer is sent again,
 * and a description that was applied already is recognised when it comes again. Our descriptions are signed
 * (src/call/description-auth.ts) and leave in order, each before its candidates.
 *
 * Its lifecycle is one phase: 'idle' (a newcomer's connection waiting for the offer: none of
 * our tracks or channels on it yet), 'opening' (our senders and the two pre-negotiated data
 * channels are on it), 'open' (both data channels open: the link is up), 'closed' (closed
 * here; nothing on it comes back). Whether ICE is connected is the browser's
 * `connectionState`, read, not copied.
 */
import type { PeerCallMessage } from '../protocol/peer-call.ts';
import type { DescriptionSignal, PeerSignal } from '../protocol/peer-signal.ts';
import { createCallChannels, type DataLink } from './data-link.ts';
import type { DescriptionAuth } from './description-auth.ts';
import { nudgeVideoSenders, watchPathChanges } from './keyframe-nudge.ts';
import { type LocalTracks, type MediaSenders, senderFor } from './local-tracks.ts';
import {
  candidateInits,
  isRepeat,
  OfferResender,
  type SdpOrigin,
  sameOrigin,
  sdpOrigin,
} from './lost-signals.ts';
import { isHostCandidate, withoutHostCandidates } from './media-watchdog.ts';
import { type PreparedTake, signedOffer } from './next-peer-offer.ts';
import type { PreparedOffer } from './prepared-offer.ts';
import { RemoteHostGate } from './remote-hosts.ts';
import { ScreenSenders } from './screen-share.ts';
import { type StatsSample, StatsSampler } from './stats.ts';

const MAX_FRAME = 262_144;

export type ConnectionPhase = 'idle' | 'opening' | 'open' | 'closed';

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

/** The first `a=ice-ufrag` of a description (null without one). */
export function iceUfrag(sdp: string): string | null {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? null;
}

/** Whether a configuration has a TURN server (`turn:` or `turns:`). */
export function hasTurnServer(config: RTCConfiguration): boolean {
  return (config.iceServers ?? []).some((s) =>
    (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^turns?:/.test(u)),
  );
}

/** What the connection needs from the person it belongs to, and tells them. */
export interface ConnectionHooks {
  readonly auth: DescriptionAuth;
  /** Relay a signal to the person's current signaling id. */
  send(signal: PeerSignal): void;
  /** Our signaling id now (our descriptions are signed with it). */
  selfId(): string;
  /** We are the polite side (we roll back on an offer collision). */
  polite(): boolean;
  /** A remote track, with the ids of the streams it was sent in (a screen share's has one). */
  track(track: MediaStreamTrack, streamIds: string[]): void;
  /** `connectionState` changed. */
  stateChanged(): void;
  /** Both data channels are open. */
  linkOpened(): void;
  /** A data channel closed, not by our `close`. */
  linkClosed(): void;
  /** They restarted ICE (an offer with new ICE credentials). */
  remoteRestart(): void;
  control(data: unknown): void;
}

export class PeerConnection {
  readonly senders: MediaSenders = { audio: null, video: null };
  /** The `a=fingerprint` lines of the last remote description applied (sorted, joined). */
  remoteFingerprints: string | null = null;
  #phase: ConnectionPhase = 'idle';
  #control: RTCDataChannel | null = null;
  #files: RTCDataChannel | null = null;
  #makingOffer = false;
  #ignoreOffer = false;
  #settingRemoteAnswerPending = false;
  /** Serializes outgoing signals so a description always precedes its candidates. */
  #outgoing: Promise<void> = Promise.resolve();
  /** Remote candidates that came before the remote description. */
  #pendingCandidates: RTCIceCandidateInit[] = [];
  #detachTracks: (() => void) | null = null;
  #sampler: StatsSampler | null = null;
  /** Stops sending a keyframe on every path change (keyframe-nudge.ts); set once connected. */
  #unwatchPath: (() => void) | null = null;
  /** Switched to relay-only (see useRelayOnly): remote host candidates are ignored. */
  #relayOnly = false;
  /** Their private host candidates off our subnets are not used with a TURN server (remote-hosts.ts). */
  readonly #remoteHosts: RemoteHostGate;
  /** The origin of the last remote description applied (lost-signals.ts). */
  #remoteOrigin: SdpOrigin | null = null;
  /** Sends our offer again until it is answered (lost-signals.ts). */
  readonly #resender: OfferResender;

  constructor(
    readonly pc: RTCPeerConnection,
    private readonly hooks: ConnectionHooks,
    private readonly tracks: LocalTracks,
  ) {
    pc.onnegotiationneeded = async () => {
      if (this.closed) return;
      try {
        this.#makingOffer = true;
        await pc.setLocalDescription();
        this.sendDescription();
      } catch (err) {
        if (!this.closed)
          console.warn('Parley: could not make an offer', err instanceof Error ? err.name : err);
      } finally {
        this.#makingOffer = false;
      }
    };
    this.#remoteHosts = new RemoteHostGate(() => hasTurnServer(pc.getConfiguration()));
    this.#resender = new OfferResender(
      (origin) =>
        !this.closed &&
        pc.signalingState === 'have-local-offer' &&
        pc.localDescription?.type === 'offer' &&
        sameOrigin(sdpOrigin(pc.localDescription.sdp), origin),
      () => {
        console.info('Parley: no answer to our offer yet; sending it again');
        this.sendDescription();
      },
    );
    // A prepared connection gathered before we watched it: its candidates are in its description.
    for (const line of (pc.localDescription?.sdp ?? '').split('\r\n'))
      if (line.startsWith('a=candidate:')) this.#remoteHosts.local(line.slice(2));
    if (pc.iceGatheringState === 'complete') this.#remoteHosts.gathered();
    pc.onicecandidate = ({ candidate }) => {
      if (this.closed) return;
      this.#addReleased(this.#remoteHosts.local(candidate ? candidate.candidate : null));
      if (candidate) this.sendCandidate(candidate);
    };
    pc.ontrack = ({ track, streams }) => {
      if (!this.closed)
        hooks.track(
          track,
          (streams ?? []).map((s) => s.id),
        );
    };
    pc.oniceconnectionstatechange = () => {
      // ICE restart on failure (MDN): both sides may try; perfect negotiation sorts it out.
      if (pc.iceConnectionState === 'failed' && !this.closed) pc.restartIce();
    };
    pc.onconnectionstatechange = () => {
      if (this.closed) return;
      // From the first connection on, a new path (after an ICE restart, say) gets a keyframe
      // from us at once: the other side's request for one may have died with the old path.
      if (pc.connectionState === 'connected' && !this.#unwatchPath)
        this.#unwatchPath = watchPathChanges(pc, () => {
          if (this.closed) return;
          console.info('Parley: the connection took another path; sending a fresh keyframe');
          nudgeVideoSenders(pc);
        });
      hooks.stateChanged();
    };
  }

  get phase(): ConnectionPhase {
    return this.#phase;
  }

  get closed(): boolean {
    return this.#phase === 'closed';
  }

  /** The session id (SDP `o=` line) of the remote description applied last, if any. */
  get remoteSession(): string | null {
    return this.#remoteOrigin?.id ?? null;
  }

  /** It carries the call right now: ICE connected, and not closed here. */
  get working(): boolean {
    return !this.closed && this.pc.connectionState === 'connected';
  }

  /** ICE said 'disconnected' or 'failed': worth a restart when signaling is back. */
  get iceDropped(): boolean {
    return ['disconnected', 'failed'].includes(this.pc.iceConnectionState);
  }

  /**
   * Put our senders and the two pre-negotiated data channels on the connection (once). With
   * a prepared offer, use its senders and channels (no renegotiation); else reuse the remote
   * offer's transceivers if it has free ones, so the answer carries our media (no 2nd round).
   */
  attach(prepared?: PreparedOffer): void {
    if (this.#phase !== 'idle') return;
    this.#phase = 'opening';
    this.senders.screen = new ScreenSenders(this.pc);
    if (prepared) {
      this.senders.audio = prepared.audio.sender;
      this.senders.video = prepared.video?.sender ?? null;
      this.#wireChannels(prepared.control, prepared.files);
    } else {
      this.senders.audio = senderFor(this.pc, 'audio');
      if (this.tracks.kind === 'video') this.senders.video = senderFor(this.pc, 'video');
      const { control, files } = createCallChannels(this.pc);
      this.#wireChannels(control, files);
    }
    this.#detachTracks = this.tracks.attach(this.senders);
  }

  /**
   * Apply a (verified) remote description, answering an offer. Ignored if it collides and we
   * are impolite (our own offer goes again then: they may not have it). A copy of one applied
   * already, or an answer nothing waits for, is not applied again (see lost-signals.ts).
   */
  async accept(description: DescriptionSignal['description'], fingerprints: string): Promise<void> {
    const { pc } = this;
    const origin = sdpOrigin(description.sdp);
    if (isRepeat(origin, this.#remoteOrigin)) {
      if (
        description.type === 'offer' &&
        pc.signalingState === 'stable' &&
        sameOrigin(origin, this.#remoteOrigin)
      ) {
        // They did not get our answer: it goes again, and their candidates may be news to us.
        for (const candidate of candidateInits(description.sdp))
          await this.addCandidate(candidate).catch(() => {});
        this.sendDescription();
      }
      return;
    }
    if (description.type === 'answer' && pc.signalingState !== 'have-local-offer') return;
    const readyForOffer =
      !this.#makingOffer && (pc.signalingState === 'stable' || this.#settingRemoteAnswerPending);
    const offerCollision = description.type === 'offer' && !readyForOffer;
    this.#ignoreOffer = !this.hooks.polite() && offerCollision;
    if (this.#ignoreOffer) {
      this.#resender.now();
      return;
    }
    this.#settingRemoteAnswerPending = description.type === 'answer';
    const before = pc.remoteDescription ? iceUfrag(pc.remoteDescription.sdp) : null;
    if (description.type === 'offer' && before !== null && iceUfrag(description.sdp) !== before)
      this.hooks.remoteRestart();
    const sdp = this.#relayOnly
      ? withoutHostCandidates(description.sdp)
      : this.#remoteHosts.filterDescription(description.sdp);
    await pc.setRemoteDescription({ type: description.type, sdp });
    this.#settingRemoteAnswerPending = false;
    this.#remoteOrigin = origin;
    this.remoteFingerprints = fingerprints;
    if (description.type === 'offer') {
      if (this.#phase === 'idle') this.attach();
      await pc.setLocalDescription();
      this.sendDescription();
    }
    await this.#addPendingCandidates();
  }

  async addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (this.closed) return;
    if (this.#relayOnly && isHostCandidate(candidate.candidate ?? '')) return;
    if (this.#remoteHosts.remote(candidate) !== 'add') return;
    if (!this.pc.remoteDescription) {
      this.#pendingCandidates.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      // Candidates for an offer we ignored in a collision are expected to fail.
      if (!this.#ignoreOffer) throw err;
    }
  }

  /** Their host candidates held until one of ours turned out to be on the same subnet. */
  #addReleased(candidates: RTCIceCandidateInit[]): void {
    for (const candidate of candidates) {
      if (this.#relayOnly) return;
      if (!this.pc.remoteDescription) this.#pendingCandidates.push(candidate);
      else void this.pc.addIceCandidate(candidate).catch(() => {});
    }
  }

  async #addPendingCandidates(): Promise<void> {
    const pending = this.#pendingCandidates.splice(0);
    for (const candidate of pending) {
      // Those may belong to an offer ignored in a collision: a failure here is no news.
      await this.pc.addIceCandidate(candidate).catch(() => {});
    }
  }

  /**
   * Send (or leave to the server, which delivered it parked) the offer prepared while we
   * waited, and put our media into its senders. Ready and signed, it leaves within this task:
   * before the tracks go in and the UI hears of the peer, which the other side does not need.
   */
  offerPrepared(take: PreparedTake, candidates: RTCIceCandidate[]): void {
    const local = this.pc.localDescription;
    if (take.delivered !== null) {
      // Only candidates gathered since it was parked remain to send.
      this.#sendEarlyCandidates(candidates, take.delivered);
    } else if (take.signed !== null && take.offer.isReady && local) {
      this.hooks.send(signedOffer(local.sdp, take.signed));
      this.#sendEarlyCandidates(candidates);
    } else {
      void this.#sendPreparedOffer(take.offer, take.auth, candidates);
    }
    this.attach(take.offer);
  }

  /**
   * The prepared offer, once its description is set, with its signature if our id is still
   * the one it was signed for. Candidates gathered before it was taken are in the
   * description already; any that are not follow it.
   */
  async #sendPreparedOffer(
    prepared: PreparedOffer,
    auth: Promise<string> | null,
    early: RTCIceCandidate[],
  ): Promise<void> {
    this.#makingOffer = true;
    try {
      let presigned = auth;
      try {
        await prepared.ready;
      } catch {
        // The prepared description failed: make one the ordinary way.
        presigned = null;
        await this.pc.setLocalDescription();
      }
      if (this.closed) return;
      this.sendDescription(presigned);
      this.#sendEarlyCandidates(early);
    } catch (err) {
      if (!this.closed)
        console.warn('Parley: could not send the offer', err instanceof Error ? err.name : err);
    } finally {
      this.#makingOffer = false;
    }
  }

  /** Candidates gathered before the offer was taken that the description sent does not hold. */
  #sendEarlyCandidates(early: RTCIceCandidate[], sentSdp = this.pc.localDescription?.sdp ?? ''): void {
    const inDescription = candidatesIn(sentSdp);
    for (const candidate of early) {
      if (candidate.candidate && !inDescription.has(candidateKey(candidate.candidate)))
        this.sendCandidate(candidate);
    }
  }

  /** Our local description, signed (`presigned`: a MAC already made over it with our id). */
  sendDescription(presigned: Promise<string> | null = null): void {
    const local = this.pc.localDescription;
    if (!local || (local.type !== 'offer' && local.type !== 'answer')) return;
    // Capture now: the description (and our id) may change while the MAC is computed.
    const description = { type: local.type, sdp: local.sdp };
    const selfId = this.hooks.selfId();
    if (local.type === 'offer') this.#resender.sent(sdpOrigin(local.sdp));
    this.#outgoing = this.#outgoing
      .then(async () => {
        const auth =
          (await presigned?.catch(() => null)) ?? (await this.hooks.auth.sign(selfId, description.sdp));
        if (!this.closed) this.hooks.send({ kind: 'description', description, auth });
      })
      .catch(() => {});
  }

  sendCandidate(candidate: RTCIceCandidate): void {
    const init = candidate.toJSON();
    const signal: PeerSignal = {
      kind: 'candidate',
      candidate: {
        candidate: init.candidate ?? '',
        sdpMid: init.sdpMid ?? null,
        sdpMLineIndex: init.sdpMLineIndex ?? null,
        usernameFragment: init.usernameFragment ?? null,
      },
    };
    this.#outgoing = this.#outgoing
      .then(() => {
        if (!this.closed) this.hooks.send(signal);
      })
      .catch(() => {});
  }

  /** A control-channel message, if the channel is open (dropped otherwise). */
  sendControl(message: PeerCallMessage): void {
    if (this.#control?.readyState !== 'open') return;
    try {
      this.#control.send(JSON.stringify(message));
    } catch {
      // Closing: the close handler decides what happens.
    }
  }

  /** What the features riding on this connection (chat, files) get, once the link is open. */
  dataLink(peerKey: string, remoteName: () => string): DataLink | null {
    if (this.#phase !== 'open' || !this.#control || !this.#files) return null;
    const sctpMax = this.pc.sctp?.maxMessageSize;
    return {
      peerId: peerKey,
      control: this.#control,
      files: this.#files,
      maxMessageSize: Math.min(typeof sctpMax === 'number' && sctpMax > 0 ? sctpMax : 65_536, MAX_FRAME),
      remoteName,
      descriptions: () => ({
        local: this.pc.localDescription?.sdp ?? '',
        remote: this.pc.remoteDescription?.sdp ?? '',
      }),
    };
  }

  restartIce(): void {
    if (!this.closed) this.pc.restartIce();
  }

  /**
   * Our offer, again, if it still waits for an answer: our signaling just resumed (it may have
   * gone into the socket that died), or theirs did (they may not have got it).
   */
  resendOffer(): void {
    this.#resender.now();
  }

  /**
   * From the next ICE restart on, through the TURN relay only (remote host candidates are
   * then ignored: relaying to an unreachable one is what can kill a TURN allocation), if a
   * TURN server is configured (`hasTurn`). True if the connection is relay-only now.
   */
  useRelayOnly(hasTurn: boolean): boolean {
    if (this.#relayOnly) return true;
    if (!hasTurn || this.closed) return false;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceTransportPolicy: 'relay' });
      this.#relayOnly = true;
    } catch (err) {
      console.warn('Parley: could not switch to relay-only', err instanceof Error ? err.name : err);
    }
    return this.#relayOnly;
  }

  setIceServers(iceServers: RTCIceServer[]): void {
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch {
      // Some fields cannot change after creation; the old servers still work.
    }
  }

  /** Sample the connection's stats about once a second from now on (once). */
  sampleStats(onSample: (sample: StatsSample) => void): void {
    if (this.#sampler || this.closed) return;
    this.#sampler = new StatsSampler(this.pc, onSample);
    this.#sampler.start();
  }

  /** Close it here (`flushFirst`: let a queued control message, a bye, leave first; bounded). */
  close(flushFirst = false): void {
    if (this.closed) return;
    this.#phase = 'closed';
    this.#resender.stop();
    this.#detachTracks?.();
    this.#sampler?.stop();
    this.#sampler = null;
    this.#unwatchPath?.();
    const { pc } = this;
    const control = this.#control;
    pc.onnegotiationneeded = null;
    pc.onicecandidate = null;
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    pc.oniceconnectionstatechange = null;
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

  #wireChannels(control: RTCDataChannel, files: RTCDataChannel): void {
    this.#control = control;
    this.#files = files;
    const onOpen = () => {
      if (this.#phase !== 'opening' || control.readyState !== 'open' || files.readyState !== 'open') return;
      this.#phase = 'open';
      this.hooks.linkOpened();
    };
    control.addEventListener('open', onOpen);
    files.addEventListener('open', onOpen);
    control.addEventListener('message', (ev: MessageEvent) => {
      if (!this.closed) this.hooks.control(ev.data);
    });
    const onClose = () => {
      if (!this.closed) this.hooks.linkClosed();
    };
    control.addEventListener('close', onClose);
    files.addEventListener('close', onClose);
  }
}
