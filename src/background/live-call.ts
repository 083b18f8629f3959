/**
 * A call this browser is in, as this service-worker instance holds it: the overlay's runtime
 * port (or the messages waiting for the next one), the room on the signaling server, and one
 * lifecycle state. What must outlive the worker is in the call record (./call-registry.ts); a
 * `LiveCall` is rebuilt from it when the overlay re-attaches or the watchdog runs.
 *
 * Where the call is shown (page overlay, call window, brought back) is ./placement.ts; who may
 * attach and what an attached overlay may ask is ./overlay-port.ts. Ringing and incoming calls
 * are meant to become further states of `LiveCallState`, not further tables keyed by call id.
 */

import type { RoomSignaling } from '../call/room-signaling.ts';
import { WebSocketSignaling } from '../call/websocket-signaling.ts';
import type { BgToOverlay } from '../messaging/messages.ts';
import type { Port } from '../messaging/runtime.ts';
import { keepBackgroundAlive } from '../platform/background.ts';
import type { PeerSignal } from '../protocol/peer-signal.ts';
import { isTeamRoomId, joinKeyFor } from '../protocol/team-room.ts';
import { type CallRecord, updateCall } from './call-registry.ts';

/** Messages kept for an overlay that is not attached right now (re-mount, worker restart). */
const INBOX_LIMIT = 256;
/** Signals the overlay sent while there was no room to send them in. */
const UNSENT_LIMIT = 256;
/** How long a live worker waits for a disconnected overlay to come back before ending the call. */
export const REATTACH_GRACE_MS = 5000;
/** How long an overlay told to hang up has to report back before the call is ended from here. */
const HANG_UP_GRACE_MS = 3000;

const workerStartedAt = Date.now();

export type LiveCallState =
  /**
   * No overlay holds the call: not yet claimed, re-mounting, moving, or this worker has just
   * started. Messages for it wait in `inbox`. `giveUp` ends the call if none attaches in time
   * (only after an overlay went away under this worker; the watchdog covers the rest).
   */
  | {
      kind: 'awaiting-overlay';
      since: number;
      inbox: BgToOverlay[];
      giveUp: ReturnType<typeof setTimeout> | null;
    }
  /** An overlay (in a page or the call window) holds the call over `port`. */
  | { kind: 'attached'; port: Port }
  /** The popup's Hang up was passed to the overlay; `deadline` ends the call if it does not. */
  | { kind: 'hanging-up'; port: Port | null; deadline: ReturnType<typeof setTimeout> }
  | { kind: 'ended' };

export class LiveCall {
  state: LiveCallState = { kind: 'awaiting-overlay', since: workerStartedAt, inbox: [], giveUp: null };
  #room: RoomSignaling | null = null;
  /** The next `joined` goes to a re-mounted overlay: tell it to offer at once. */
  #announceRejoin = false;
  #unsent: { to: string; data: unknown }[] = [];
  /**
   * Joined ahead of the overlay (an answered ring: see `joinAhead`): what the room said so
   * far, handed to the overlay after its `joined` when it asks to join. Null otherwise.
   */
  #ahead: BgToOverlay[] | null = null;

  constructor(readonly callId: string) {}

  get port(): Port | null {
    const state = this.state;
    return state.kind === 'attached' || state.kind === 'hanging-up' ? state.port : null;
  }

  /** Since when no overlay holds the call, or null while one does. */
  get overlayMissingSince(): number | null {
    return this.state.kind === 'awaiting-overlay' ? this.state.since : null;
  }

  // ---------- the overlay ----------

  /**
   * An overlay proved it may hold this call. `fresh`: it claimed a new capability (a new
   * document), so what waited was for the one it replaces; it learns the room from the
   * `joined` its join gets.
   */
  attach(port: Port, fresh: boolean): void {
    const state = this.state;
    if (state.kind === 'ended') {
      port.disconnect();
      return;
    }
    const previous = this.port;
    if (previous && previous !== port) previous.disconnect();
    if (state.kind === 'hanging-up') {
      this.state = { ...state, port };
      return;
    }
    this.state = { kind: 'attached', port };
    if (state.kind === 'awaiting-overlay') {
      if (state.giveUp) clearTimeout(state.giveUp);
      if (!fresh) for (const message of state.inbox) port.postMessage(message);
    }
  }

  /**
   * The overlay's document is gone (tab navigated or reloaded, page deleted our frame); it left
   * without a bye and kept its place in the room. A re-mount claims a fresh capability within
   * moments and carries the call on; otherwise `giveUp` runs (the call is over, and endCall
   * says bye to the others for it).
   */
  overlayGone(port: Port, giveUp: () => void): void {
    const state = this.state;
    if (this.port !== port) return;
    // An offer it parked with the server died with it: take it back.
    this.#room?.park(null);
    if (state.kind === 'hanging-up') {
      this.state = { ...state, port: null };
      return;
    }
    this.state = {
      kind: 'awaiting-overlay',
      since: Date.now(),
      inbox: [],
      giveUp: setTimeout(giveUp, REATTACH_GRACE_MS),
    };
  }

  /** Let go of the overlay ourselves (the call moves to a window): no grace timer. */
  dropOverlay(): void {
    const port = this.port;
    if (!port || this.state.kind === 'hanging-up') return;
    this.state = { kind: 'awaiting-overlay', since: Date.now(), inbox: [], giveUp: null };
    port.disconnect();
  }

  /**
   * Ask the attached overlay to leave without a bye, keeping our place in the room (the call
   * moves to another page), and wait until it has let go (2 s at most).
   */
  async releaseOverlay(): Promise<void> {
    const port = this.port;
    if (!port) return;
    await new Promise<void>((resolve) => {
      port.onDisconnect.addListener(() => resolve());
      setTimeout(resolve, 2000);
      port.postMessage({ type: 'detach' } satisfies BgToOverlay);
    });
  }

  /** To the overlay now, or to the next one to attach. */
  post(message: BgToOverlay): void {
    const state = this.state;
    if (state.kind === 'awaiting-overlay') {
      if (state.inbox.length < INBOX_LIMIT) state.inbox.push(message);
      return;
    }
    this.port?.postMessage(message);
  }

  /**
   * The popup's Hang up: the overlay ends the call itself (it says bye to the peers); if it
   * does not report back in time, `end` does it from here. False if no overlay is attached.
   */
  hangUp(end: () => void): boolean {
    const state = this.state;
    if (state.kind !== 'attached') return false;
    state.port.postMessage({ type: 'hang-up' } satisfies BgToOverlay);
    this.state = { kind: 'hanging-up', port: state.port, deadline: setTimeout(end, HANG_UP_GRACE_MS) };
    return true;
  }

  // ---------- the room ----------

  /**
   * The overlay's `join`. Already in the room: hand it the room as it is now. `rejoin`: this
   * overlay replaces one that had joined (a re-mount): the worker kept our place in the room
   * (same peer id, the others were told nothing), so the peers will not offer and it must.
   */
  join(call: CallRecord, rejoin: boolean): void {
    const ahead = this.#ahead;
    this.#ahead = null;
    const info = this.#room?.joinedInfo;
    if (info) {
      this.post({ type: 'status', status: 'open' });
      this.post({ type: 'joined', info: { ...info, ...(rejoin ? { rejoin } : {}) } });
      for (const message of ahead ?? []) this.post(message);
      return;
    }
    // Joined ahead but not in yet (or the socket is reconnecting): its `joined` comes as usual.
    for (const message of ahead ?? []) this.post(message);
    if (rejoin) this.#announceRejoin = true;
    this.ensureRoom(call);
  }

  /**
   * An answered ring: join the room now, while the call window opens and loads, so that the
   * caller's offer (parked with the server) is here when the window's overlay asks to join.
   * Nothing reaches the caller before the person accepted; the overlay attaches its media as
   * soon as it runs. If no overlay ever claims the call, ending it says bye from here.
   */
  joinAhead(call: CallRecord): void {
    if (this.#room || this.state.kind === 'ended') return;
    this.#ahead = [];
    this.ensureRoom(call);
  }

  /** A room event: to the overlay, or held for it while we joined ahead of it. */
  #fromRoom(message: BgToOverlay): void {
    const ahead = this.#ahead;
    if (ahead === null) {
      this.post(message);
      return;
    }
    // Its own `joined` (and the status) are given afresh when it joins.
    if (message.type === 'joined' || message.type === 'status') return;
    if (ahead.length < INBOX_LIMIT) ahead.push(message);
  }

  /** Be in the call's room (after a worker restart, from the watchdog, on join). */
  ensureRoom(call: CallRecord): void {
    if (this.state.kind === 'ended' || (this.#room && !this.#room.isLeft)) return;
    const room = new WebSocketSignaling({
      server: call.server,
      resume: call.resume,
      onKeepalive: keepBackgroundAlive,
    });
    this.#room = room;
    room.on('joined', () => {
      const ticket = room.resumeTicket;
      if (ticket) void updateCall(this.callId, (c) => ({ ...c, resume: ticket }));
      const info = room.joinedInfo;
      if (!info) return;
      const rejoin = this.#announceRejoin;
      this.#announceRejoin = false;
      this.#fromRoom({ type: 'joined', info: { ...info, ...(rejoin ? { rejoin } : {}) } });
    });
    room.on('peerJoined', (peerId, parked) =>
      this.#fromRoom({ type: 'peer-joined', peerId, ...(parked ? { parked: true } : {}) }),
    );
    room.on('peerLeft', (peerId) => this.#fromRoom({ type: 'peer-left', peerId }));
    room.on('signal', (from, data) => this.#fromRoom({ type: 'signal', from, data }));
    room.on('error', (code, message) => this.#fromRoom({ type: 'error', code, message }));
    room.on('status', (status) => this.#fromRoom({ type: 'status', status }));
    const unsent = this.#unsent;
    this.#unsent = [];
    for (const { to, data } of unsent) room.send(to, data);
    // Final errors (room full, version, a team room's key) reach the overlay through `error`.
    if (!isTeamRoomId(call.room)) {
      room.join(call.room).catch(() => {});
      return;
    }
    joinKeyFor(call.room, call.secret).then(
      (key) => room.join(call.room, key).catch(() => {}),
      (err: Error) => this.post({ type: 'error', code: 'bad-key', message: err.message }),
    );
  }

  /** A signal from the overlay; held until joined (also across a reconnect). */
  send(to: string, data: unknown): void {
    if (this.#room && !this.#room.isLeft) {
      this.#room.send(to, data);
      return;
    }
    if (this.#unsent.length < UNSENT_LIMIT) this.#unsent.push({ to, data });
  }

  /** Not kept for later: the overlay parks again on its next `joined`. */
  park(data: unknown): void {
    this.#room?.park(data);
  }

  /** Leave the room (the overlay left, or the call moves to a window and rejoins from there). */
  leaveRoom(): void {
    this.#room?.leave();
    this.#room = null;
  }

  /**
   * The call is over here. The overlay says bye itself when the person hangs up (and leaves the
   * room first). When it went away without one (tab closed, page navigated, a re-mount that
   * never came back) it kept our place in the room on purpose: tell the others from here.
   */
  end(): void {
    const state = this.state;
    if (state.kind === 'ended') return;
    this.state = { kind: 'ended' };
    if (state.kind === 'awaiting-overlay' && state.giveUp) clearTimeout(state.giveUp);
    if (state.kind === 'hanging-up') clearTimeout(state.deadline);
    const room = this.#room;
    if (room) {
      for (const peer of room.peers) room.send(peer, { kind: 'bye' } satisfies PeerSignal);
      this.leaveRoom();
    }
    this.#unsent = [];
    this.#ahead = null;
    if (state.kind === 'attached' || state.kind === 'hanging-up') state.port?.disconnect();
  }
}

/** The live calls of this worker instance, by call id: the only table of them. */
const live = new Map<string, LiveCall>();

export const liveCalls = {
  get(callId: string): LiveCall | undefined {
    return live.get(callId);
  },
  /** The call's live object, made on first use in this worker. */
  of(callId: string): LiveCall {
    let call = live.get(callId);
    if (!call) {
      call = new LiveCall(callId);
      live.set(callId, call);
    }
    return call;
  },
  /** End it here and forget it. */
  end(callId: string): void {
    live.get(callId)?.end();
    live.delete(callId);
  },
};
