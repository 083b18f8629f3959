/**
 * Ring invites: made and signed by the caller, checked by the callee's service worker before
 * anything is shown. An invite that is not signed by a contact's pinned key, not for the
 * mailbox kept for that contact, expired (or valid for longer than a minute), or whose call id
 * was already seen, is dropped without a word and counted by reason.
 *
 * One refusal is not silent: a well-formed, unexpired, never-seen invite for the mailbox we
 * keep for a contact, validly signed, but by a key other than that contact's pinned one. The
 * pair's mailbox is known only to the two contacts (and the server that routes it), so this
 * is the contact after a reinstall (a new key) or someone pretending to be them: it is
 * refused as `key-changed`, with the contact's key, so the person can be told.
 */
import * as v from 'valibot';
import {
  INVITE_CLOCK_SKEW_MS,
  type Invite,
  InviteSchema,
  inviteText,
  MAX_INVITE_LIFETIME_MS,
  type RingMedia,
  type UnsignedInvite,
} from '../protocol/presence.ts';
import { randomBytes, toBase64Url } from './bytes.ts';
import { type Identity, signText, verifyText } from './keys.ts';

export interface InviteRequest {
  /** The callee's mailbox for us (mailboxFor(pairSecret, theirKey).id). */
  mailbox: string;
  room: string;
  media: RingMedia;
  /** Milliseconds since the epoch, preferably on the server's clock (`registered.now`). */
  now: number;
  /** Defaults to the maximum, MAX_INVITE_LIFETIME_MS. */
  lifetimeMs?: number;
  /** A fresh random id unless given (fixed vectors in tests). */
  callId?: string;
}

export async function createInvite(identity: Identity, request: InviteRequest): Promise<Invite> {
  const lifetime = request.lifetimeMs ?? MAX_INVITE_LIFETIME_MS;
  if (lifetime <= 0 || lifetime > MAX_INVITE_LIFETIME_MS) {
    throw new Error(`An invite lives between 1 and ${MAX_INVITE_LIFETIME_MS} ms.`);
  }
  const unsigned: UnsignedInvite = {
    caller: identity.publicKey,
    mailbox: request.mailbox,
    callId: request.callId ?? toBase64Url(randomBytes(16)),
    room: request.room,
    media: request.media,
    expires: Math.floor(request.now + lifetime),
  };
  const invite = { ...unsigned, sig: await signText(identity, inviteText(unsigned)) };
  // Never hand out something our own checker (and the server) would refuse as malformed.
  if (!v.safeParse(InviteSchema, invite).success)
    throw new Error('The invite is malformed (check mailbox and room).');
  return invite;
}

export const INVITE_DROP_REASONS = [
  'malformed',
  'unknown-caller',
  'wrong-mailbox',
  'expired',
  'too-far-ahead',
  'bad-signature',
  'replayed',
  'key-changed',
] as const;
export type InviteDropReason = (typeof INVITE_DROP_REASONS)[number];

export type InviteCheck =
  | { ok: true; invite: Invite }
  /** `contactKey`: for `key-changed`, the pinned key of the contact whose mailbox it was. */
  | { ok: false; reason: InviteDropReason; contactKey?: string };

export interface InviteContext {
  /**
   * The mailbox id this profile keeps for the contact with this pinned key, or undefined if
   * the key is not a contact (never saved, removed, blocked, or a contact whose key changed).
   */
  mailboxFor(callerKey: string): string | undefined;
  /** The pinned key of the contact whose mailbox (kept by us) this is, if any. */
  contactForMailbox?(mailbox: string): string | undefined;
  /** Milliseconds since the epoch (the server-corrected clock if the caller has one). */
  now: number;
}

/** A call id stays "seen" until this long after its invite expired. */
const SEEN_MARGIN_MS = INVITE_CLOCK_SKEW_MS;
const MAX_SEEN = 2000;

export interface SeenCallId {
  callId: string;
  /** Forget it after this time (ms since the epoch). */
  until: number;
}

/**
 * Checks invites and remembers the call ids it accepted. Its state is plain data
 * (`seenCallIds`, restored through the constructor) so the service worker can keep it in
 * `storage.session` across restarts: a replay is refused even after the worker was stopped.
 */
export class InviteChecker {
  readonly dropped: Record<InviteDropReason, number> = Object.fromEntries(
    INVITE_DROP_REASONS.map((r) => [r, 0]),
  ) as Record<InviteDropReason, number>;
  private readonly seen = new Map<string, number>();

  constructor(seen: readonly SeenCallId[] = []) {
    for (const s of seen) this.seen.set(s.callId, s.until);
  }

  seenCallIds(): SeenCallId[] {
    return [...this.seen].map(([callId, until]) => ({ callId, until }));
  }

  async check(raw: unknown, context: InviteContext): Promise<InviteCheck> {
    const parsed = v.safeParse(InviteSchema, raw);
    if (!parsed.success) {
      this.dropped.malformed++;
      return { ok: false, reason: 'malformed' };
    }
    const invite = parsed.output;
    const contactKey =
      context.mailboxFor(invite.caller) === undefined
        ? context.contactForMailbox?.(invite.mailbox)
        : undefined;
    const reason = await this.reasonToDrop(invite, context, contactKey);
    if (reason === 'key-changed' || reason === null) {
      // Remembered too when refused for a changed key: its replay is dropped silently.
      this.remember(invite.callId, invite.expires + SEEN_MARGIN_MS, context.now);
    }
    if (reason !== null) {
      this.dropped[reason]++;
      return reason === 'key-changed' && contactKey !== undefined
        ? { ok: false, reason, contactKey }
        : { ok: false, reason };
    }
    return { ok: true, invite };
  }

  private async reasonToDrop(
    invite: Invite,
    { mailboxFor, now }: InviteContext,
    /** Set when the caller is no contact but the mailbox is one of ours: whose it is. */
    changedFrom: string | undefined,
  ): Promise<InviteDropReason | null> {
    const mailbox = changedFrom === undefined ? mailboxFor(invite.caller) : invite.mailbox;
    if (mailbox === undefined) return 'unknown-caller';
    if (invite.mailbox !== mailbox) return 'wrong-mailbox';
    if (invite.expires <= now) return 'expired';
    if (invite.expires > now + MAX_INVITE_LIFETIME_MS + INVITE_CLOCK_SKEW_MS) return 'too-far-ahead';
    // The signature before the replay check: a forged invite must not be able to burn a call id.
    if (!(await verifyText(invite.caller, inviteText(invite), invite.sig))) return 'bad-signature';
    if ((this.seen.get(invite.callId) ?? Number.NEGATIVE_INFINITY) > now) return 'replayed';
    return changedFrom === undefined ? null : 'key-changed';
  }

  private remember(callId: string, until: number, now: number): void {
    for (const [id, end] of this.seen) if (end <= now) this.seen.delete(id);
    // Rings are rate-limited by the server, so this bound is only reached under attack;
    // the oldest entries are expired or nearly so.
    while (this.seen.size >= MAX_SEEN) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
    this.seen.set(callId, until);
  }
}
