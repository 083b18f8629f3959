/**
 * Who agreed to be recorded: the consent state machine of recording (no UI, no media; the UI
 * in src/overlay/recording-panel.ts draws it and src/call/recording/recorder.ts records).
 *
 * Our own recording: **Record** asks everyone else (`rec-ask`, src/protocol/peer-recording.ts)
 * and is `asking` until each has answered. All allowed: `recording`. Anyone declined: it is over
 * ("Bo declined recording", told to everyone). A newcomer while recording: they are asked, and
 * the recording is `paused` until they allow (over if they decline). Someone who leaves no
 * longer counts. **Stop recording** (or the request cancelled) ends it for everyone.
 *
 * Others' recordings: a `rec-ask` from someone is a question to us (`asked`) until we answer;
 * once we allowed, or as soon as their recording says it runs (`rec-state`), we show that they
 * record, until they say it stopped or they leave. The recorder's name is the name of the link
 * the message came on, never a name inside it.
 */
import { parseRecordingMessage, type RecordingMessage } from '../../protocol/peer-recording.ts';

export interface ConsentPeer {
  /** The person's stable key (src/call/peer-link.ts). */
  readonly id: string;
  /** Read whenever it is shown (a link's name arrives with the person's hello). */
  readonly name: string;
}

export type OwnPhase = 'asking' | 'recording' | 'paused';

export interface OwnRecording {
  readonly id: string;
  readonly phase: OwnPhase;
  /** Everyone else in the call, and whether they allowed. */
  readonly answers: ReadonlyMap<string, { readonly name: string; readonly allowed: boolean }>;
}

export interface TheirRecording {
  readonly id: string;
  /** The recorder, as their link names them. */
  readonly peer: ConsentPeer;
  /** Waiting for our answer. */
  readonly asked: boolean;
  /** What their recording says it does ('pending' until it said anything). */
  readonly state: 'pending' | 'recording' | 'paused';
}

export interface ConsentIO {
  send(peerId: string, message: RecordingMessage): void;
  /** Our own recording's phase changed (null: there is none any more). */
  ownPhase(phase: OwnPhase | null): void;
  /** What is shown changed; `sentence` is something to tell the person. */
  changed(sentence?: string): void;
  /** A new request id (tests make them predictable). */
  newId?(): string;
}

class Answer {
  allowed = false;
  constructor(readonly peer: ConsentPeer) {}
  get name(): string {
    return this.peer.name;
  }
}

interface Own {
  id: string;
  phase: OwnPhase;
  answers: Map<string, Answer>;
}

export class RecordingConsent {
  #own: Own | null = null;
  readonly #theirs = new Map<string, TheirRecording>();

  constructor(
    private readonly localName: string,
    private readonly io: ConsentIO,
  ) {}

  get own(): OwnRecording | null {
    return this.#own;
  }

  /** Others' recordings and requests, by the recorder's key. */
  get theirs(): ReadonlyMap<string, TheirRecording> {
    return this.#theirs;
  }

  /** Requests waiting for our answer. */
  get questions(): { peerId: string; recording: TheirRecording }[] {
    return [...this.#theirs].filter(([, r]) => r.asked).map(([peerId, recording]) => ({ peerId, recording }));
  }

  /** Who records now, as far as we know (others, by name; shown on the indicator). */
  get recorders(): { name: string; state: 'recording' | 'paused' | 'pending' }[] {
    return [...this.#theirs.values()]
      .filter((r) => !r.asked || r.state !== 'pending')
      .map((r) => ({ name: r.peer.name, state: r.state }));
  }

  /** May this person's media go into our recording now (they allowed it)? */
  recordable(peerId: string): boolean {
    return this.#own?.answers.get(peerId)?.allowed === true;
  }

  /** Those still to answer our request, by name. */
  get waitingFor(): string[] {
    return [...(this.#own?.answers.values() ?? [])].filter((a) => !a.allowed).map((a) => a.name);
  }

  /** **Record**: ask everyone in the call. False when nobody else is there or we already record. */
  request(peers: readonly ConsentPeer[]): boolean {
    if (this.#own || peers.length === 0) return false;
    const id = this.io.newId?.() ?? crypto.randomUUID();
    this.#own = {
      id,
      phase: 'asking',
      answers: new Map(peers.map((p) => [p.id, new Answer(p)])),
    };
    for (const p of peers) this.io.send(p.id, { t: 'rec-ask', id });
    this.io.changed();
    return true;
  }

  /** **Stop recording** (or cancel the request): over for everyone. */
  stop(sentence?: string): void {
    this.#end(undefined, sentence);
  }

  /** Someone's link opened (they joined): while we record they are asked, and it pauses. */
  peerJoined(peer: ConsentPeer): void {
    const own = this.#own;
    if (!own || own.answers.has(peer.id)) return;
    own.answers.set(peer.id, new Answer(peer));
    this.io.send(peer.id, { t: 'rec-ask', id: own.id });
    if (own.phase === 'recording') this.#setPhase('paused');
    else this.io.changed();
  }

  /** Someone left for good: their answer no longer counts, their recording is over. */
  peerLeft(peerId: string): void {
    const theirs = this.#theirs.delete(peerId);
    const own = this.#own;
    if (own?.answers.delete(peerId)) {
      if (own.answers.size === 0 && own.phase === 'asking') {
        this.#end(undefined, 'Nobody else is in the call: recording was not started.');
        return;
      }
      if (this.#settle()) return;
    }
    if (theirs || own) this.io.changed();
  }

  /** A recording message on `from`'s link. False when it was malformed (dropped). */
  receive(from: ConsentPeer, raw: unknown): boolean {
    const message = parseRecordingMessage(raw);
    if (!message) return false;
    switch (message.t) {
      case 'rec-ask':
        this.#theirs.set(from.id, { id: message.id, peer: from, asked: true, state: 'pending' });
        this.io.changed();
        return true;
      case 'rec-answer': {
        const own = this.#own;
        const answer = own?.answers.get(from.id);
        if (!own || !answer || own.id !== message.id || answer.allowed) return true;
        if (!message.allow) {
          this.#end(answer.name);
          return true;
        }
        answer.allowed = true;
        if (!this.#settle()) this.io.changed();
        return true;
      }
      case 'rec-state': {
        const current = this.#theirs.get(from.id);
        if (message.state === 'stopped') {
          if (current?.id !== message.id) return true;
          this.#theirs.delete(from.id);
          this.io.changed(
            message.declinedBy !== undefined
              ? `${message.declinedBy} declined recording`
              : `${from.name} stopped recording`,
          );
          return true;
        }
        // Also when they never asked us (an older or modified client): shown, not hidden.
        const asked = current?.id === message.id && current.asked;
        this.#theirs.set(from.id, { id: message.id, peer: from, asked, state: message.state });
        this.io.changed();
        return true;
      }
    }
  }

  /**
   * Our answer to `peerId`'s request (Allow / Decline). Allow shows their recording here (the
   * indicator) before the answer leaves: they may start recording as soon as it arrives, so
   * nothing of ours is recorded without our indicator showing (sent first, it could arrive and
   * start their recorder before this page drew it, as on a busy machine).
   */
  answer(peerId: string, allow: boolean): void {
    const recording = this.#theirs.get(peerId);
    if (!recording?.asked) return;
    if (allow) {
      this.#theirs.set(peerId, { ...recording, asked: false });
      this.io.changed();
    } else {
      this.#theirs.delete(peerId);
    }
    this.io.send(peerId, { t: 'rec-answer', id: recording.id, allow });
    if (!allow) this.io.changed(`${this.localName} declined recording`);
  }

  /** Everyone allowed: (back to) recording. True when the phase changed. */
  #settle(): boolean {
    const own = this.#own;
    if (!own || own.phase === 'recording') return false;
    for (const a of own.answers.values()) if (!a.allowed) return false;
    if (own.answers.size === 0 && own.phase === 'asking') return false;
    this.#setPhase('recording');
    return true;
  }

  #setPhase(phase: OwnPhase): void {
    const own = this.#own;
    if (!own) return;
    own.phase = phase;
    for (const peerId of own.answers.keys()) {
      this.io.send(peerId, { t: 'rec-state', id: own.id, state: phase === 'asking' ? 'paused' : phase });
    }
    this.io.ownPhase(phase);
    this.io.changed();
  }

  #end(declinedBy?: string, sentence?: string): void {
    const own = this.#own;
    if (!own) return;
    this.#own = null;
    for (const peerId of own.answers.keys()) {
      this.io.send(peerId, {
        t: 'rec-state',
        id: own.id,
        state: 'stopped',
        ...(declinedBy !== undefined ? { declinedBy } : {}),
      });
    }
    this.io.ownPhase(null);
    this.io.changed(declinedBy !== undefined ? `${declinedBy} declined recording` : sentence);
  }
}
