/**
 * Ringing a contact and being rung, on the presence socket (./presence.ts).
 *
 * Out: **Call Ana** opens the call on the current tab exactly like **Start video call** (the
 * overlay prepares its offer and parks it), but says "Calling Ana…" instead of showing a
 * link, and sends Ana's inbox an invite signed by our key. Her answer (decline, busy, no
 * answer) or "offline" ends our overlay with a sentence saying so.
 *
 * In: an invite is checked by the InviteChecker (src/identity/invite.ts: a contact's pinned
 * key, our inbox for that contact, unexpired, call id never seen; its seen ids kept in
 * storage.session so a replay is refused after a worker restart too); anything else is
 * dropped without a word, counted by reason in storage.session. One refusal is told: a ring
 * for a contact's mailbox validly signed by another key ("Ana's key changed"), in the popup. Already in a call, or already rung by that caller: `busy`. Else a
 * system notification "Ana is calling" (Accept / Decline; requireInteraction; a click on the
 * notification itself opens the popup's ring card) and the ring card in the popup. After
 * 30 s without an answer: `no-answer`, and the ring goes to the missed calls.
 *
 * The call itself is verified by both identity keys, not by a link secret: each side signs
 * its DTLS fingerprints with its key, bound to the ring's call id and the other's key, and
 * checks the other's against the key it pinned (src/call/identity-signed-auth.ts; the overlay
 * asks this worker for the signatures). The record's `secret` is a random one that no one
 * else learns: nothing verifies with it, and no link is shown for such a call (popup, overlay).
 *
 * While a ring rings, the call window is made ready for it (./ring-window.ts); Accept hands it
 * the call and joins the room from here at once (LiveCall.joinAhead).
 */
import { createInvite, InviteChecker, type InviteDropReason, type SeenCallId } from '../identity/invite.ts';
import type {
  CallMedia,
  MissedView,
  RefusedView,
  RingView,
  SimpleResult,
  StartResult,
} from '../messaging/messages.ts';
import { randomBase64Url } from '../protocol/link.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';
import type { Invite, RingAnswer } from '../protocol/presence.ts';
import { type CallRecord, findCall, listCalls, NO_PAGE_TAB, putCall, updateCall } from './call-registry.ts';
import { getContact, listContacts } from './contacts.ts';
import { profileIdentity } from './identity.ts';
import { liveCalls } from './live-call.ts';
import { openCall, openCallWindow } from './placement.ts';
import { presence } from './presence.ts';
import { dropCallWindow, prepareCallWindow, takeCallWindow } from './ring-window.ts';
import { loadSettings } from './settings.ts';

/** How long a ring may go unanswered before the caller is told "no answer". */
export const RING_TIMEOUT_MS = 30_000;
const MISSED_MAX = 20;
const RINGS_KEY = 'rings';
const SEEN_KEY = 'ring-seen';
const MISSED_KEY = 'missed-calls';
const DROPPED_KEY = 'ring-dropped';
const REFUSED_KEY = 'rings-refused';
const REFUSED_MAX = 5;
const NOTIFICATION_PREFIX = 'parley-ring:';
/** A plain blue square: Chrome requires an icon on a basic notification. */
const ICON =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAYAAABXAvmHAAAARElEQVR42u3PQREAAAQAMGUkE18IKvi622MBFlk9n4WAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAwNUCxsMDS1sSjM0AAAAASUVORK5CYII=';

interface IncomingRing {
  callId: string;
  key: string;
  name: string;
  media: CallMedia;
  room: string;
  receivedAt: number;
}

let queue: Promise<unknown> = Promise.resolve();
/** Ring state changes one at a time (a ring, its answer and the sweep may interleave). */
function exclusive<T>(task: () => Promise<T>): Promise<T> {
  const next = queue.then(task, task);
  queue = next.catch(() => undefined);
  return next;
}

async function incoming(): Promise<IncomingRing[]> {
  return ((await chrome.storage.session.get(RINGS_KEY))[RINGS_KEY] as IncomingRing[] | undefined) ?? [];
}

async function setIncoming(rings: IncomingRing[]): Promise<void> {
  await chrome.storage.session.set({ [RINGS_KEY]: rings });
}

async function addMissed(ring: IncomingRing, at = Date.now()): Promise<void> {
  const stored = ((await chrome.storage.local.get(MISSED_KEY))[MISSED_KEY] as MissedView[] | undefined) ?? [];
  const next = [{ name: ring.name, media: ring.media, at }, ...stored].slice(0, MISSED_MAX);
  await chrome.storage.local.set({ [MISSED_KEY]: next });
}

/** Invites refused, by reason (src/identity/invite.ts), since the browser started. */
export async function droppedInvites(): Promise<Partial<Record<InviteDropReason, number>>> {
  return (
    ((await chrome.storage.session.get(DROPPED_KEY))[DROPPED_KEY] as
      | Partial<Record<InviteDropReason, number>>
      | undefined) ?? {}
  );
}

async function countDropped(reason: InviteDropReason): Promise<void> {
  const counts = await droppedInvites();
  counts[reason] = (counts[reason] ?? 0) + 1;
  await chrome.storage.session.set({ [DROPPED_KEY]: counts });
}

/** A ring for a contact's mailbox signed by another key: the popup says so, until dismissed. */
async function addRefused(name: string, at = Date.now()): Promise<void> {
  const next = [{ name, at }, ...(await refusedRings()).filter((r) => r.name !== name)].slice(0, REFUSED_MAX);
  await chrome.storage.local.set({ [REFUSED_KEY]: next });
}

export async function refusedRings(): Promise<RefusedView[]> {
  return ((await chrome.storage.local.get(REFUSED_KEY))[REFUSED_KEY] as RefusedView[] | undefined) ?? [];
}

export async function dismissRefused(): Promise<void> {
  await chrome.storage.local.remove(REFUSED_KEY);
}

export async function ringViews(): Promise<RingView[]> {
  return (await incoming()).map(({ callId, name, media }) => ({ callId, name, media }));
}

export async function missedCalls(): Promise<MissedView[]> {
  return ((await chrome.storage.local.get(MISSED_KEY))[MISSED_KEY] as MissedView[] | undefined) ?? [];
}

// ---------- ringing a contact ----------

/** Wait (briefly) for the presence socket to be registered: the worker may have just started. */
async function registeredPresence(): Promise<NonNullable<typeof presence.registered>> {
  await presence.ensure();
  for (let i = 0; i < 50 && presence.registered === null; i++) await new Promise((r) => setTimeout(r, 100));
  const registered = presence.registered;
  if (registered === null) throw new Error('offline');
  return registered;
}

export async function ringContact(tabId: number, key: string, media: CallMedia): Promise<StartResult> {
  const contact = await getContact(key);
  if (!contact) return { ok: false, error: 'That contact is gone.' };
  if (contact.blocked) return { ok: false, error: `You blocked ${contact.name}. Unblock them to call.` };
  let registered: NonNullable<typeof presence.registered>;
  try {
    registered = await registeredPresence();
  } catch {
    return {
      ok: false,
      error: 'Parley is not connected to its server. Turn on Available for calls and try again.',
    };
  }
  const { server } = await loadSettings();
  const callId = randomBase64Url(16);
  const room = randomBase64Url(16);
  const secret = randomBase64Url(16);
  const opened = await openCall(tabId, { server, room, secret }, media, {
    callId,
    contactKey: contact.key,
    peerName: contact.name,
    direction: 'out',
  });
  if (!opened.ok) return opened;
  const identity = await profileIdentity();
  const invite = await createInvite(identity, {
    mailbox: contact.outbox,
    room,
    media,
    now: registered.now(),
    callId,
  });
  if (!registered.registration.ring(invite)) {
    await tellCaller(callId, 'Parley lost its connection to the server. Try again.');
  }
  return opened;
}

async function callForRing(callId: string, direction: 'out' | 'in'): Promise<CallRecord | undefined> {
  return findCall((c) => c.ring?.callId === callId && c.ring.direction === direction);
}

async function tellCaller(ringCallId: string, message: string): Promise<void> {
  const call = await callForRing(ringCallId, 'out');
  if (!call?.ring) return;
  // Kept in the record too: an overlay that has not claimed the call yet learns it then.
  const ring = { ...call.ring, ended: message };
  await updateCall(call.callId, (c) => ({ ...c, ring }));
  liveCalls.of(call.callId).post({ type: 'ring-ended', message });
}

const ANSWER_TEXT: Partial<Record<RingAnswer, (name: string) => string>> = {
  decline: (name) => `${name} declined the call.`,
  busy: (name) => `${name} is in another call.`,
  'no-answer': (name) => `${name} did not answer.`,
};

/** Our ring's outcome, or the caller cancelling a ring for us. */
async function onRingAnswer(callId: string, answer: RingAnswer): Promise<void> {
  if (answer === 'cancel') {
    await exclusive(async () => {
      const rings = await incoming();
      const ring = rings.find((r) => r.callId === callId);
      if (!ring) return;
      await setIncoming(rings.filter((r) => r !== ring));
      await clearNotification(callId);
      void dropCallWindow(callId);
      await addMissed(ring);
    });
    return;
  }
  const text = ANSWER_TEXT[answer];
  const call = await callForRing(callId, 'out');
  if (!text || !call?.ring) return;
  await tellCaller(callId, text(call.ring.peerName));
}

async function onRingStatus(callId: string, status: 'ringing' | 'offline'): Promise<void> {
  if (status !== 'offline') return;
  const call = await callForRing(callId, 'out');
  if (call?.ring) await tellCaller(callId, `${call.ring.peerName} is not available right now.`);
}

/** Our call that began as a ring ended: if it was still ringing, the callee stops ringing. */
export function cancelRingOf(call: CallRecord): void {
  if (call.ring?.direction === 'out') presence.registered?.registration.answer(call.ring.callId, 'cancel');
}

// ---------- being rung ----------

async function checker(): Promise<InviteChecker> {
  const seen = ((await chrome.storage.session.get(SEEN_KEY))[SEEN_KEY] as SeenCallId[] | undefined) ?? [];
  return new InviteChecker(seen);
}

async function onRing(raw: Invite): Promise<void> {
  await exclusive(async () => {
    const contacts = await listContacts();
    const byKey = new Map(contacts.filter((c) => !c.blocked).map((c) => [c.key, c]));
    const check = await checker();
    const now = presence.registered?.now() ?? Date.now();
    const byInbox = new Map([...byKey.values()].map((c) => [c.inbox.id, c]));
    const result = await check.check(raw, {
      mailboxFor: (key) => byKey.get(key)?.inbox.id,
      contactForMailbox: (mailbox) => byInbox.get(mailbox)?.key,
      now,
    });
    await chrome.storage.session.set({ [SEEN_KEY]: check.seenCallIds() });
    if (!result.ok) {
      await countDropped(result.reason);
      const changed = result.contactKey === undefined ? undefined : byKey.get(result.contactKey);
      if (changed) await addRefused(changed.name);
      return; // Else dropped without a word.
    }
    const invite = result.invite;
    const contact = byKey.get(invite.caller);
    if (!contact) return;
    const ring: IncomingRing = {
      callId: invite.callId,
      key: contact.key,
      name: cleanDisplayName(contact.name, 'A contact'),
      media: invite.media,
      room: invite.room,
      receivedAt: Date.now(),
    };
    const rings = await incoming();
    // One ring per caller at a time; and someone in a call is busy.
    if (rings.some((r) => r.key === ring.key) || (await listCalls()).length > 0) {
      presence.registered?.registration.answer(ring.callId, 'busy');
      if (!rings.some((r) => r.key === ring.key)) await addMissed(ring);
      return;
    }
    await setIncoming([...rings, ring]);
    await notify(ring);
    // The call window starts now, minimized, and waits for Accept (./ring-window.ts).
    prepareCallWindow(ring.callId, async () => (await incoming()).some((r) => r.callId === ring.callId));
    setTimeout(() => void sweepRings(), RING_TIMEOUT_MS + 100);
  });
}

async function notify(ring: IncomingRing): Promise<void> {
  const base = {
    type: 'basic' as const,
    iconUrl: ICON,
    title: `${ring.name} is calling`,
    message: ring.media === 'audio' ? 'Audio call' : 'Video call',
    priority: 2,
  };
  const id = NOTIFICATION_PREFIX + ring.callId;
  try {
    await chrome.notifications.create(id, {
      ...base,
      requireInteraction: true,
      buttons: [{ title: 'Accept' }, { title: 'Decline' }],
    });
  } catch {
    // Browsers without buttons or requireInteraction (Firefox): the plain notification, whose
    // click opens the ring card.
    await chrome.notifications.create(id, base).catch(() => undefined);
  }
}

async function clearNotification(callId: string): Promise<void> {
  await chrome.notifications.clear(NOTIFICATION_PREFIX + callId).catch(() => undefined);
}

/** Rings nobody answered within RING_TIMEOUT_MS: tell the caller, list them as missed. */
export function sweepRings(now = Date.now()): Promise<void> {
  return exclusive(async () => {
    const rings = await incoming();
    const over = rings.filter((r) => now - r.receivedAt >= RING_TIMEOUT_MS);
    if (over.length === 0) return;
    await setIncoming(rings.filter((r) => !over.includes(r)));
    for (const ring of over) {
      presence.registered?.registration.answer(ring.callId, 'no-answer');
      await clearNotification(ring.callId);
      void dropCallWindow(ring.callId);
      await addMissed(ring);
    }
  });
}

export function answerRing(callId: string, answer: 'accept' | 'decline'): Promise<SimpleResult> {
  return exclusive(async () => {
    const rings = await incoming();
    const ring = rings.find((r) => r.callId === callId);
    if (!ring) return { ok: false, error: 'That call has ended.' };
    const registration = presence.registered?.registration;
    const done = async () => {
      await setIncoming(rings.filter((r) => r !== ring));
      await clearNotification(callId);
    };
    if (answer === 'decline') {
      void dropCallWindow(callId);
      await done();
      registration?.answer(callId, 'decline');
      return { ok: true };
    }
    // Taken while the ring is still listed: a window still opening is waited for, not closed.
    const [ready, contact, { server, name }] = await Promise.all([
      takeCallWindow(callId),
      getContact(ring.key),
      loadSettings(),
    ]);
    if (!contact || contact.blocked || !registration?.answer(callId, 'accept')) {
      if (ready) await chrome.windows.remove(ready.windowId).catch(() => undefined);
      await done();
      return { ok: false, error: 'The call could not be answered: Parley is not connected.' };
    }
    const call: CallRecord = {
      callId: randomBase64Url(16),
      tabId: ready?.tabId ?? null,
      pageTabId: NO_PAGE_TAB,
      host: 'window',
      ...(ready ? { windowId: ready.windowId } : {}),
      server,
      room: ring.room,
      secret: randomBase64Url(16),
      media: ring.media,
      name: name || 'Parley user',
      cap: ready?.cap ?? randomBase64Url(32),
      capUsed: false,
      sessionKey: randomBase64Url(32),
      joinRequested: false,
      createdAt: Date.now(),
      ring: { callId: ring.callId, contactKey: contact.key, peerName: contact.name, direction: 'in' },
    };
    // In the room while the record is written and the window comes up: the caller's offer
    // waits here for it. (The record is queued before the room's `joined` can update it.)
    liveCalls.of(call.callId).joinAhead(call);
    await putCall(call);
    if (ready) {
      ready.answer(call);
      await done();
      return { ok: true };
    }
    await done();
    const opened = await openCallWindow(call.callId, 'answered');
    return opened ? { ok: true } : { ok: false, error: 'The call window could not be opened.' };
  });
}

export function startRings(): void {
  presence.setRingHandlers({
    ring: (invite) => void onRing(invite),
    ringStatus: (callId, status) => void onRingStatus(callId, status),
    ringAnswer: (callId, answer) => void onRingAnswer(callId, answer),
  });
  chrome.notifications.onButtonClicked.addListener((id, index) => {
    if (!id.startsWith(NOTIFICATION_PREFIX)) return;
    void answerRing(id.slice(NOTIFICATION_PREFIX.length), index === 0 ? 'accept' : 'decline');
  });
  chrome.notifications.onClicked.addListener((id) => {
    if (!id.startsWith(NOTIFICATION_PREFIX)) return;
    // Desktops that draw no buttons: the click opens the popup, whose ring card answers.
    void chrome.action.openPopup().catch(() => undefined);
  });
}
