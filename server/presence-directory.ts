/**
 * Which connection receives rings for which mailbox: the presence state, behind one small
 * interface so that a shared implementation (Redis, next to the room store) can replace the
 * in-memory one without touching the protocol code in presence.ts.
 *
 * A Redis version keeps `mailbox → node + session id` with a TTL refreshed by the heartbeat,
 * and delivers to sessions on other nodes over pub/sub; this process-local one maps straight
 * to the session object.
 */

export interface PresenceDirectory<S> {
  /** Rings for `mailbox` go to `session` from now on (a newer registration takes it over). */
  set(mailbox: string, session: S): void;
  /** Stops routing `mailbox` to `session`; a no-op if another session holds it now. */
  delete(mailbox: string, session: S): void;
  /** The session holding `mailbox`, if it is online. */
  get(mailbox: string): S | undefined;
  /** Mailboxes currently routed (for metrics). */
  size(): number;
}

export function createMemoryDirectory<S>(): PresenceDirectory<S> {
  const byMailbox = new Map<string, S>();
  return {
    set(mailbox, session) {
      byMailbox.set(mailbox, session);
    },
    delete(mailbox, session) {
      if (byMailbox.get(mailbox) === session) byMailbox.delete(mailbox);
    },
    get: (mailbox) => byMailbox.get(mailbox),
    size: () => byMailbox.size,
  };
}
