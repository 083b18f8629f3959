/**
 * Insurance for a first connection that never connects although signaling completed: ICE can
 * stay "checking" with no working pair and no failure for a long time (candidates lost on the
 * way, a network that changed under the gathering). Browsers then leave the person on
 * "Connecting…"; the watchdog restarts ICE, which gathers and checks anew, at most `retries`
 * times, and then says the call cannot connect rather than "Connecting…" forever. Both sides
 * watch; the impolite one acts first (the polite one waits 1.5× as long) so that the two
 * restarts rarely collide (perfect negotiation settles it if they do).
 */

export const STILL_CONNECTING_NOTICE = 'Still connecting… trying again.';
export const NO_CONNECTION_NOTICE =
  'The call cannot connect: a firewall or network between you may be blocking it. A TURN relay on the call server usually fixes this.';

/** What the watchdog looks at and acts on. */
export interface WatchedSetup {
  readonly pc: RTCPeerConnection;
  /** Connected once, closed, or the call is over: nothing left to watch. */
  done(): boolean;
  /** The impolite side acts first. */
  polite(): boolean;
  /** A sentence for the person (STILL_CONNECTING_NOTICE or NO_CONNECTION_NOTICE). */
  notice(message: string): void;
  /**
   * Before a restart: direct paths had their chance, so go through the TURN relay only if
   * there is one (true if so).
   */
  relayOnly(): boolean;
}

export class SetupWatchdog {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retries = 0;

  constructor(
    private readonly target: WatchedSetup,
    private readonly delayMs: number,
    private readonly maxRetries = 2,
  ) {}

  /** Watch (again) from now. */
  start(): void {
    const delay = this.delayMs * (this.target.polite() ? 1.5 : 1);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.target.done()) return;
      const { pc } = this.target;
      const negotiated = pc.signalingState === 'stable' && pc.remoteDescription !== null;
      if (negotiated && pc.connectionState !== 'connected') {
        if (this.#retries >= this.maxRetries) {
          // Out of tries: say so, rather than "Connecting…" forever. (It may still connect.)
          this.target.notice(NO_CONNECTION_NOTICE);
          return;
        }
        this.#retries++;
        const relay = this.target.relayOnly();
        console.info(
          `Parley: no connection after ${delay} ms; restarting ICE${relay ? ' through the relay only' : ''} (${this.#retries})`,
        );
        pc.restartIce();
        this.target.notice(STILL_CONNECTING_NOTICE);
      }
      this.start();
    }, delay);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
