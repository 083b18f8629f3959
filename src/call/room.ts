/**
 * Who is in the call with us: the remote participants by their current signaling id, the
 * people the server announced whose offer we are waiting for, how many we take at most, and
 * the call's state as it follows from all of them.
 */
import type { RemoteParticipant } from './remote-participant.ts';

export type CallState = 'waiting' | 'connecting' | 'connected' | 'reconnecting' | 'ended';

export class Room {
  readonly #byId = new Map<string, RemoteParticipant>();
  /** Announced by the server; we wait for their offer (or our turn to offer). */
  readonly #expected = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(
    /** How many remote people we accept at most (the server's room capacity less us, once known). */
    public capacity: number,
  ) {}

  get size(): number {
    return this.#byId.size;
  }

  get isFull(): boolean {
    return this.#byId.size >= this.capacity;
  }

  get participants(): RemoteParticipant[] {
    return [...this.#byId.values()];
  }

  get(id: string): RemoteParticipant | undefined {
    return this.#byId.get(id);
  }

  add(participant: RemoteParticipant): void {
    this.arrived(participant.id);
    this.#byId.set(participant.id, participant);
  }

  remove(participant: RemoteParticipant): void {
    if (this.#byId.get(participant.id) === participant) this.#byId.delete(participant.id);
  }

  /** They told us their new signaling id. */
  move(participant: RemoteParticipant, newId: string): void {
    this.remove(participant);
    participant.id = newId;
    this.add(participant);
  }

  /**
   * Someone the server announced: unless they are here (their offer came) by `delayMs`,
   * `due` runs (we offer ourselves). Once per id.
   */
  expect(id: string, delayMs: number, due: (id: string) => void): void {
    if (this.#expected.has(id)) return;
    this.#expected.set(
      id,
      setTimeout(() => {
        this.#expected.delete(id);
        if (!this.#byId.has(id)) due(id);
      }, delayMs),
    );
  }

  /** No longer waiting for this id (they came, or they left). */
  arrived(id: string): void {
    clearTimeout(this.#expected.get(id));
    this.#expected.delete(id);
  }

  /** The call's state from everyone's connection (never 'ended': that is the call's own). */
  state(): Exclude<CallState, 'ended'> {
    const views = this.participants.map((p) => p.view.connection);
    if (views.includes('connected')) return 'connected';
    if (views.includes('reconnecting')) return 'reconnecting';
    if (views.length > 0 || this.#expected.size > 0) return 'connecting';
    return 'waiting';
  }

  /** Everyone closed elsewhere: forget them all, wait for nobody. */
  clear(): void {
    this.#byId.clear();
    for (const timer of this.#expected.values()) clearTimeout(timer);
    this.#expected.clear();
  }
}
