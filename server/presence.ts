/**
 * Presence and rings (src/protocol/presence.ts, docs/protocol.md "Presence and rings").
 *
 * A connection becomes a presence only by signing a fresh challenge from this server with its
 * identity key: `challenge` → nonce (single use, CHALLENGE_TTL_MS) → `register` with an
 * Ed25519 signature over `parley-presence-v1|<this server's origin>|<nonce>|<key>`. It may
 * then claim mailboxes, but only those whose id derives from its own key (mailboxIdInput), and
 * ring, but only with invites that name its own key and carry its signature. Rings are
 * limited per key and per client IP by token buckets; each ring is tracked until it is
 * answered, cancelled, its invite expires, or either socket goes.
 *
 * The socket side (signaling.ts) owns sockets and parsing and hands each decoded presence
 * message here; the mailbox → connection map is a PresenceDirectory (presence-directory.ts).
 */
import { hash, randomBytes, verify } from 'node:crypto';
import {
  CHALLENGE_TTL_MS,
  INVITE_CLOCK_SKEW_MS,
  type Invite,
  inviteText,
  MAX_INVITE_LIFETIME_MS,
  mailboxIdInput,
  type PresenceClientMessage,
  presenceProofText,
  type RingAnswer,
  type RingAnswerMessage,
} from '../src/protocol/presence.ts';
import { type ErrorCode, PROTOCOL_VERSION } from '../src/protocol/signaling.ts';
import type { Logger } from './log.ts';
import type { Metrics, RejectionReason } from './metrics.ts';
import {
  createMemoryDirectory,
  type PresenceDirectory,
  type RemoteSession,
  type RingEvent,
} from './presence-directory.ts';

/** What the presence code needs from the socket side. */
export interface PresenceHost<C> {
  send(conn: C, frame: string): void;
  /** Sends an error frame (counting it is done here, by reason). */
  sendError(conn: C, code: ErrorCode, message: string): void;
  /** The client's address (for the per-IP ring limit). */
  ip(conn: C): string;
  /** The origin this client reached us at, used when PUBLIC_ORIGIN is not configured. */
  origin(conn: C): string;
}

export interface PresenceOptions {
  /** This server's origin as clients name it in the presence proof; null: from the Host header. */
  publicOrigin: string | null;
  /** Ring token buckets, per caller key and per client IP. */
  ringBurst: number;
  ringPerMin: number;
}

/** Shared by every session that holds or watches nothing (no empty array per socket). */
const NONE: readonly string[] = Object.freeze([]);

/**
 * The presence state of one connection, hung on it once a `register` succeeds: four fields,
 * as there are thousands of these. The challenge before it is kept elsewhere (createPresence's
 * `challenges`), and only while it is outstanding.
 */
export class PresenceSession<C> {
  /** Mailboxes this connection receives rings for. */
  mailboxes: readonly string[] = NONE;
  /** Contacts' mailboxes this connection watches (told when they come and go). */
  watching: readonly string[] = NONE;
  constructor(
    readonly conn: C,
    /** The registered public key (base64url text; a ring imports it again). */
    public key: string,
  ) {}
}

/** A challenge given to a connection and not yet answered. */
interface Challenge {
  readonly nonce: string;
  readonly at: number;
}

export interface PresenceCarrier<C> {
  presence: PresenceSession<C> | null;
}

/** One side of a ring: a session on this node, or one on another node (with Redis). */
type Party<C> = PresenceSession<C> | RemoteSession;

interface PendingRing<C> {
  readonly callId: string;
  readonly caller: Party<C>;
  readonly callee: Party<C>;
  readonly timer: NodeJS.Timeout;
}

export interface Presence<C> {
  handle(conn: C, msg: PresenceClientMessage, now: number): void;
  /** The connection closed: its mailboxes go offline and its rings end. */
  disconnect(conn: C): void;
  close(): void;
  /** Registered presences and routed mailboxes on this node (metrics, tests). */
  stats(): { sessions: number; mailboxes: number; pendingRings: number };
}

/** SubjectPublicKeyInfo DER prefix of an Ed25519 public key (RFC 8410); the raw 32 bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** An Ed25519 public key (raw 32 bytes, base64url) as DER, or null if it is not 32 bytes. */
function ed25519Key(publicKey: string): Buffer | null {
  const raw = Buffer.from(publicKey, 'base64url');
  if (raw.length !== 32) return null;
  return Buffer.concat([ED25519_SPKI_PREFIX, raw]);
}

/**
 * Checks an Ed25519 signature. The key goes in as DER, not as a KeyObject: OpenSSL's copy of
 * it is then freed when the call returns, rather than whenever the garbage collector gets to
 * a KeyObject (thousands of registrations a second left that much native memory waiting).
 */
function signedBy(key: Buffer, text: string, signature: string): boolean {
  try {
    return verify(
      null,
      Buffer.from(text),
      { key, format: 'der', type: 'spki' },
      Buffer.from(signature, 'base64url'),
    );
  } catch {
    return false;
  }
}

/** One-shot SHA-256 (no Hash object per mailbox waiting for the garbage collector). */
function mailboxId(ownerKey: string, tag: string): string {
  return hash('sha256', mailboxIdInput(ownerKey, tag), 'buffer').toString('base64url', 0, 16);
}

export function createPresence<C extends PresenceCarrier<C>>(
  options: PresenceOptions,
  host: PresenceHost<C>,
  log: Logger,
  metrics: Metrics,
  directory: PresenceDirectory<PresenceSession<C>> = createMemoryDirectory(options),
): Presence<C> {
  const pending = new Map<string, PendingRing<C>>();
  /** Outstanding challenges by connection: gone once answered (single use) or the socket closes. */
  const challenges = new Map<C, Challenge>();
  /** Watched mailbox → the sessions watching it (only while someone watches). */
  /**
   * A mailbox is made for one contact, so it usually has one watcher (that contact's
   * browser): that session is kept alone, a Set (~0.13 KB) only once a second one watches.
   */
  const watchers = new Map<string, PresenceSession<C> | Set<PresenceSession<C>>>();
  let sessions = 0;
  /** Rings of one session are handled one after another (they wait on the directory). */
  const ringQueues = new Map<PresenceSession<C>, Promise<void>>();
  /**
   * Sessions whose `watch` waits for the shared store (with Redis), and the presence changes
   * of their watched mailboxes meanwhile: sent after the `watching` answer, which they may be
   * newer than. Kept here, not on the session (a field per socket costs memory).
   */
  const watchesInFlight = new Map<PresenceSession<C>, Map<string, boolean>>();
  directory.onEvent(fromNode);
  directory.onPresence((mailbox, online) => {
    // Still held on this node (the same mailbox registered here too): it stays online.
    if (!online && directory.get(mailbox) !== undefined) return;
    tellWatchers(mailbox, online);
  });

  function refuse(
    conn: C,
    code: ErrorCode & RejectionReason,
    message: string,
    reason: RejectionReason = code,
  ): void {
    metrics.reject(reason);
    host.sendError(conn, code, message);
  }

  function challenge(conn: C, now: number): void {
    const nonce = randomBytes(32).toString('base64url');
    challenges.set(conn, { nonce, at: now });
    host.send(conn, `{"v":${PROTOCOL_VERSION},"type":"challenge","nonce":"${nonce}"}`);
  }

  function registeredFrame(session: PresenceSession<C>, now: number): string {
    return JSON.stringify({
      v: PROTOCOL_VERSION,
      type: 'registered',
      key: session.key,
      mailboxes: session.mailboxes,
      now,
    });
  }

  function register(conn: C, key: string, signature: string, now: number): void {
    const given = challenges.get(conn);
    // Single use, whatever the outcome.
    challenges.delete(conn);
    if (given === undefined || now - given.at > CHALLENGE_TTL_MS) {
      refuse(
        conn,
        'stale-challenge',
        'That challenge is used up or too old; ask for a new one and sign it at once.',
      );
      return;
    }
    const nonce = given.nonce;
    const der = ed25519Key(key);
    const origin = options.publicOrigin ?? host.origin(conn);
    if (der === null || !signedBy(der, presenceProofText(origin, nonce, key), signature)) {
      refuse(
        conn,
        'bad-signature',
        'That signature does not prove this key for this challenge; not registered.',
      );
      return;
    }
    let session = conn.presence;
    if (session === null) {
      session = new PresenceSession(conn, key);
      conn.presence = session;
      sessions++;
    } else if (session.key !== key) {
      setMailboxes(session, NONE);
      setWatching(session, NONE);
      watchesInFlight.delete(session);
    }
    // Only the key text is kept (a KeyObject per socket costs ~0.3 KB); a ring imports it again.
    session.key = key;
    host.send(conn, registeredFrame(session, now));
    log.debug('presence registered');
  }

  function setMailboxes(session: PresenceSession<C>, ids: readonly string[]): void {
    const kept = new Set(ids);
    for (const old of session.mailboxes) {
      if (kept.has(old)) continue;
      directory.delete(old, session);
      if (directory.get(old) === undefined) {
        tellWatchers(old, false);
        directory.announce(old, false);
      }
    }
    const before = new Set(session.mailboxes);
    session.mailboxes = ids;
    for (const id of ids) {
      const wasOnline = directory.get(id) !== undefined;
      directory.set(id, session);
      if (!wasOnline && !before.has(id)) {
        tellWatchers(id, true);
        directory.announce(id, true);
      }
    }
  }

  const presenceFrame = (mailbox: string, online: boolean) =>
    `{"v":${PROTOCOL_VERSION},"type":"presence","mailbox":"${mailbox}","online":${online}}`;

  function tellWatchers(mailbox: string, online: boolean): void {
    const watching = watchers.get(mailbox);
    if (watching === undefined) return;
    const frame = presenceFrame(mailbox, online);
    if (watching instanceof PresenceSession) tellWatcher(watching, mailbox, online, frame);
    else for (const watcher of watching) tellWatcher(watcher, mailbox, online, frame);
  }

  function tellWatcher(watcher: PresenceSession<C>, mailbox: string, online: boolean, frame: string): void {
    const held = watchesInFlight.get(watcher);
    if (held !== undefined) held.set(mailbox, online);
    else host.send(watcher.conn, frame);
  }

  /** Answers `watch` with the watched mailboxes online now (on any node). */
  function watch(session: PresenceSession<C>, ids: readonly string[]): void {
    setWatching(session, ids);
    const answer = (online: readonly string[]) =>
      JSON.stringify({ v: PROTOCOL_VERSION, type: 'watching', online });
    const online = directory.online(ids);
    if (!(online instanceof Promise)) {
      watchesInFlight.delete(session);
      host.send(session.conn, answer(online));
      return;
    }
    const held = new Map<string, boolean>();
    watchesInFlight.set(session, held);
    online
      .catch((err: unknown) => {
        // The shared store is away: answer with what this node knows.
        log.warn(
          { err: (err as Error).message },
          'watch answered from this node only: presence store unavailable',
        );
        return ids.filter((id) => directory.get(id) !== undefined);
      })
      .then((found) => {
        // A newer watch (or the socket closing) has taken over.
        if (watchesInFlight.get(session) !== held) return;
        watchesInFlight.delete(session);
        if (session.conn.presence !== session) return;
        host.send(session.conn, answer(found));
        for (const [mailbox, isOnline] of held) host.send(session.conn, presenceFrame(mailbox, isOnline));
      });
  }

  function setWatching(session: PresenceSession<C>, ids: readonly string[]): void {
    for (const old of session.watching) {
      const watching = watchers.get(old);
      if (watching === session) watchers.delete(old);
      else if (watching instanceof Set) {
        watching.delete(session);
        if (watching.size === 1) watchers.set(old, watching.values().next().value as PresenceSession<C>);
      }
    }
    session.watching = ids;
    for (const id of ids) {
      const watching = watchers.get(id);
      if (watching === undefined || watching === session) watchers.set(id, session);
      else if (watching instanceof Set) watching.add(session);
      else watchers.set(id, new Set([watching, session]));
    }
  }

  function registered(conn: C): PresenceSession<C> | null {
    const session = conn.presence;
    if (session !== null) return session;
    refuse(conn, 'not-registered', 'Register your presence first (challenge, then register).');
    return null;
  }

  function inviteProblem(session: PresenceSession<C>, invite: Invite, now: number): string | null {
    if (invite.caller !== session.key) {
      return 'An invite must name the key this connection registered.';
    }
    if (invite.expires <= now || invite.expires > now + MAX_INVITE_LIFETIME_MS + INVITE_CLOCK_SKEW_MS) {
      return `This invite has expired, or claims to live longer than ${MAX_INVITE_LIFETIME_MS / 1000} s.`;
    }
    const key = ed25519Key(session.key);
    if (key === null || !signedBy(key, inviteText(invite), invite.sig))
      return 'The invite signature is not valid.';
    if (pending.has(invite.callId)) return 'This call id was already used.';
    return null;
  }

  /** Runs `ring` after the session's earlier rings (each waits on the directory). */
  function queueRing(conn: C, invite: Invite, now: number): void {
    const session = conn.presence;
    const before = session === null ? undefined : ringQueues.get(session);
    const run = (before ?? Promise.resolve())
      .then(() => ring(conn, invite, now))
      .catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'ring failed: presence store unavailable');
        host.sendError(conn, 'unavailable', 'Cannot reach the presence store right now; try again.');
      });
    if (session === null) return;
    ringQueues.set(session, run);
    void run.finally(() => {
      if (ringQueues.get(session) === run) ringQueues.delete(session);
    });
  }

  const isLocal = (party: Party<C>): party is PresenceSession<C> => party instanceof PresenceSession;

  /** Tells one side of a ring how it ended (through its node when it is elsewhere). */
  function tell(to: Party<C>, callId: string, answer: RingAnswer, from: PresenceSession<C>): void {
    if (isLocal(to)) host.send(to.conn, answerFrame(callId, answer));
    else directory.send(to, { type: 'answer', to: to.id, from: directory.address(from), callId, answer });
  }

  /** Tracks a ring until it is answered, cancelled, or its invite expires (then both are told). */
  function track(callId: string, caller: Party<C>, callee: Party<C>, ms: number): void {
    const timer = setTimeout(() => {
      const ring = pending.get(callId);
      if (ring?.timer !== timer) return;
      pending.delete(callId);
      // Only the side(s) on this node are told: another node's side has its own timer.
      if (isLocal(caller)) host.send(caller.conn, answerFrame(callId, 'no-answer'));
      if (isLocal(callee)) host.send(callee.conn, answerFrame(callId, 'cancel'));
    }, ms);
    timer.unref();
    pending.set(callId, { callId, caller, callee, timer });
  }

  async function ring(conn: C, invite: Invite, now: number): Promise<void> {
    const caller = registered(conn);
    if (caller === null) return;
    if (!(await directory.takeRingToken(caller.key, host.ip(conn), now))) {
      refuse(
        conn,
        'rate-limited',
        'Too many calls in a short time; wait a moment and try again.',
        'ring-rate-limited',
      );
      return;
    }
    const problem = inviteProblem(caller, invite, now);
    if (problem !== null) {
      refuse(conn, 'bad-invite', problem);
      return;
    }
    if (!(await directory.claimCallId(invite.callId, invite.expires, now))) {
      refuse(conn, 'bad-invite', 'This call id was already used.');
      return;
    }
    const callee = await directory.lookup(invite.mailbox);
    // The caller's socket may have gone (or re-registered) while the directory answered.
    if (conn.presence !== caller || pending.has(invite.callId)) return;
    const status = (s: 'ringing' | 'offline') =>
      `{"v":${PROTOCOL_VERSION},"type":"ring-status","callId":"${invite.callId}","status":"${s}"}`;
    if (callee === undefined) {
      metrics.ringsOffline++;
      host.send(conn, status('offline'));
      return;
    }
    track(invite.callId, caller, callee, invite.expires - Date.now());
    metrics.ringsDelivered++;
    if (isLocal(callee))
      host.send(callee.conn, JSON.stringify({ v: PROTOCOL_VERSION, type: 'ring', invite }));
    else directory.send(callee, { type: 'ring', to: callee.id, from: directory.address(caller), invite });
    host.send(conn, status('ringing'));
  }

  /** A ring event from another node for a session here (or for one that is gone). */
  function fromNode(session: PresenceSession<C> | undefined, event: RingEvent): void {
    const from: RemoteSession = { node: event.from.node, id: event.from.id };
    if (event.type === 'ring') {
      const { invite } = event;
      if (session === undefined || session.conn.presence !== session) {
        // Gone meanwhile: the caller hears no-answer (the directory names this node as sender).
        const me = { node: '', id: event.to };
        directory.send(from, {
          type: 'answer',
          to: from.id,
          from: me,
          callId: invite.callId,
          answer: 'no-answer',
        });
        return;
      }
      if (pending.has(invite.callId)) return;
      track(invite.callId, from, session, invite.expires - Date.now());
      host.send(session.conn, JSON.stringify({ v: PROTOCOL_VERSION, type: 'ring', invite }));
      return;
    }
    const ring = pending.get(event.callId);
    if (ring === undefined || session === undefined) return;
    // Only the other side of this very ring can end it.
    const other = ring.caller === session ? ring.callee : ring.callee === session ? ring.caller : null;
    if (other === null || isLocal(other) || other.node !== from.node || other.id !== from.id) return;
    clearTimeout(ring.timer);
    pending.delete(event.callId);
    host.send(session.conn, answerFrame(event.callId, event.answer));
  }

  function answerFrame(callId: string, answer: RingAnswerMessage['answer']): string {
    return `{"v":${PROTOCOL_VERSION},"type":"ring-answer","callId":"${callId}","answer":"${answer}"}`;
  }

  function answer(conn: C, msg: RingAnswerMessage): void {
    const session = registered(conn);
    if (session === null) return;
    const ring = pending.get(msg.callId);
    // The callee answers, the caller cancels; nobody else can end someone's ring.
    const to =
      ring === undefined
        ? null
        : msg.answer === 'cancel'
          ? ring.caller === session
            ? ring.callee
            : null
          : ring.callee === session
            ? ring.caller
            : null;
    if (ring === undefined || to === null) {
      refuse(conn, 'unknown-ring', 'No such ring for you (it was answered, cancelled or has expired).');
      return;
    }
    clearTimeout(ring.timer);
    pending.delete(msg.callId);
    tell(to, msg.callId, msg.answer, session);
  }

  return {
    handle(conn, msg, now) {
      switch (msg.type) {
        case 'challenge':
          challenge(conn, now);
          return;
        case 'register':
          register(conn, msg.key, msg.signature, now);
          return;
        case 'mailboxes': {
          const session = registered(conn);
          if (session === null) return;
          // slice(): exactly this many slots (a spread leaves spare ones), as this array stays.
          const ids = [...new Set(msg.tags.map((tag) => mailboxId(session.key, tag)))].slice();
          setMailboxes(session, ids);
          host.send(conn, registeredFrame(session, now));
          return;
        }
        case 'ring':
          queueRing(conn, msg.invite, now);
          return;
        case 'watch': {
          const session = registered(conn);
          if (session === null) return;
          watch(session, [...new Set(msg.mailboxes)].slice());
          return;
        }
        case 'ring-answer':
          answer(conn, msg);
          return;
      }
    },

    disconnect(conn) {
      challenges.delete(conn);
      const session = conn.presence;
      if (session === null) return;
      conn.presence = null;
      sessions--;
      setMailboxes(session, NONE);
      setWatching(session, NONE);
      watchesInFlight.delete(session);
      for (const ring of pending.values()) {
        if (ring.caller !== session && ring.callee !== session) continue;
        clearTimeout(ring.timer);
        pending.delete(ring.callId);
        if (ring.caller === session) tell(ring.callee, ring.callId, 'cancel', session);
        else tell(ring.caller, ring.callId, 'no-answer', session);
      }
      directory.forget(session);
    },

    close() {
      for (const ring of pending.values()) clearTimeout(ring.timer);
      pending.clear();
      challenges.clear();
      watchers.clear();
      watchesInFlight.clear();
    },

    stats: () => ({ sessions, mailboxes: directory.size(), pendingRings: pending.size }),
  };
}
