/**
 * The sound of a recording: every voice in the call (our own microphone, each person's
 * microphone, a shared tab's sound) mixed into one track with Web Audio. `set` is called with
 * the tracks to hear whenever the call changes; each track is connected once.
 */
export class AudioMixer {
  readonly #context: AudioContext;
  readonly #destination: MediaStreamAudioDestinationNode;
  readonly #inputs = new Map<string, MediaStreamAudioSourceNode>();
  readonly track: MediaStreamTrack;

  /** Make it from a click (an AudioContext may only start with the page's user activation). */
  constructor() {
    this.#context = new AudioContext();
    this.#destination = this.#context.createMediaStreamDestination();
    const track = this.#destination.stream.getAudioTracks()[0];
    if (!track) throw new Error('This browser cannot mix the call’s sound.');
    this.track = track;
    void this.#context.resume().catch(() => {});
  }

  /** Hear exactly these tracks (ended ones are skipped). */
  set(tracks: readonly MediaStreamTrack[]): void {
    const wanted = new Set<string>();
    for (const track of tracks) {
      if (track.kind !== 'audio' || track.readyState !== 'live') continue;
      wanted.add(track.id);
      if (this.#inputs.has(track.id)) continue;
      const input = this.#context.createMediaStreamSource(new MediaStream([track]));
      input.connect(this.#destination);
      this.#inputs.set(track.id, input);
    }
    for (const [id, input] of this.#inputs) {
      if (wanted.has(id)) continue;
      input.disconnect();
      this.#inputs.delete(id);
    }
  }

  stop(): void {
    for (const input of this.#inputs.values()) input.disconnect();
    this.#inputs.clear();
    this.track.stop();
    void this.#context.close().catch(() => {});
  }
}
