/**
 * **Share my contact link** and **Add contact** from one (src/protocol/contact-link.ts has the
 * protocol, src/identity/contact-link.ts its cryptography).
 *
 * Owner: the link's token is kept in chrome.storage.local until it is used (or a week old);
 * while it is, the worker waits in the link's room on its own signaling socket (rejoined at
 * every worker start and by the watchdog alarm, like the presence socket). The first valid
 * request uses the token up: it is forgotten at once, so no second request can use it, and
 * the owner is asked, in the popup and a notification, "Bo wants to add you as a contact"
 * (**Add contact** / **Not now**). Only **Add contact** sends the owner's half of the pair
 * secret; both sides then save each other exactly as Save contact in a call does.
 *
 * Requester: joins the room, sends its signed request to whoever is there and waits for a
 * sealed receipt (10 s: nobody there means the link was used, or the owner's Parley is not
 * running) and then for the owner's answer (2 min).
 */
import { RoomSignaling } from '../call/room-signaling.ts';
import { SignalingClient, type WebSocketLike } from '../call/signaling-client.ts';
import { fromBase64Url, toBase64Url } from '../identity/bytes.ts';
import { type LinkSecrets, linkSecrets, newLinkToken, open, seal } from '../identity/contact-link.ts';
import { keyFingerprint } from '../identity/fingerprint.ts';
import { verifyText } from '../identity/keys.ts';
import { newPairNonce } from '../identity/mailbox.ts';
import { ContactLinkToBgSchema, type ContactLinkView } from '../messaging/contact-link-messages.ts';
import { parse } from '../messaging/messages.ts';
import { keepBackgroundAlive } from '../platform/background.ts';
import {
  type ContactLink,
  formatContactLink,
  type LinkMessage,
  linkAcceptText,
  linkRequestText,
  parseContactLink,
} from '../protocol/contact-link.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';
import { getContact, listContacts, saveContact } from './contacts.ts';
import { profileIdentity, signWithIdentity } from './identity.ts';
import { popupsChanged } from './popup-updates.ts';
import { presence } from './presence.ts';
import { loadSettings } from './settings.ts';

const STORAGE_KEY = 'contact-link';
const NOTIFICATION_PREFIX = 'parley-contact:';
/** An unused link is forgotten after a week. */
const LINK_LIFETIME_MS = 7 * 24 * 3600_000;
/** How long the requester waits for the owner's worker to say it has the request. */
export const RECEIPT_TIMEOUT_MS = 10_000;
/** How long a request waits for the owner's Add contact / Not now. */
export const ANSWER_TIMEOUT_MS = 120_000;
const ICON =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAYAAABXAvmHAAAARElEQVR42u3PQREAAAQAMGUkE18IKvi622MBFlk9n4WAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAwNUCxsMDS1sSjM0AAAAASUVORK5CYII=';

interface StoredLink {
  token: string;
  server: string;
  name: string;
  createdAt: number;
}

function socketFor(server: string): SignalingClient {
  return new SignalingClient({
    server,
    connect: (url) => new WebSocket(url) as unknown as WebSocketLike,
    onKeepalive: keepBackgroundAlive,
  });
}

async function storedLink(): Promise<StoredLink | null> {
  const stored = (await chrome.storage.local.get(STORAGE_KEY))[STORAGE_KEY] as StoredLink | undefined;
  if (!stored || typeof stored.token !== 'string' || Date.now() - stored.createdAt > LINK_LIFETIME_MS)
    return null;
  return stored;
}

// ---------- owner ----------

interface Incoming {
  id: string;
  peerId: string;
  key: string;
  name: string;
  nonce: string;
  timer: ReturnType<typeof setTimeout>;
}

interface OwnerRoom {
  token: string;
  secrets: LinkSecrets;
  room: RoomSignaling;
  /** Set by the first valid request: the token is used up from then on. */
  incoming: Incoming | null;
}

/** The room of the unused link. */
let owner: OwnerRoom | null = null;
/** The room of a used link whose request waits for the owner's answer. */
let asking: OwnerRoom | null = null;
let ownerQueue: Promise<unknown> = Promise.resolve();

function serial<T>(task: () => Promise<T>): Promise<T> {
  const next = ownerQueue.then(task, task);
  ownerQueue = next.catch(() => undefined);
  return next;
}

/** This profile's contact link, made on first use and kept until it is used. */
export function shareContactLink(): Promise<{ ok: true; link: string } | { ok: false; error: string }> {
  return serial(async () => {
    const { server, name } = await loadSettings();
    const { publicKey } = await profileIdentity();
    let stored = await storedLink();
    if (stored === null || stored.server !== server) {
      stored = { token: newLinkToken(), server, name: cleanDisplayName(name, ''), createdAt: Date.now() };
      await chrome.storage.local.set({ [STORAGE_KEY]: stored });
    }
    await holdOwnerRoom(stored);
    return {
      ok: true,
      link: formatContactLink({
        server: stored.server,
        key: publicKey,
        token: stored.token,
        name: stored.name,
      }),
    };
  });
}

/** Wait in the room of the unused link, if there is one (worker start, watchdog alarm). */
export function ensureContactLink(): Promise<void> {
  return serial(async () => {
    const stored = await storedLink();
    if (stored === null) {
      closeOwnerRoom();
      return;
    }
    await holdOwnerRoom(stored);
  });
}

async function holdOwnerRoom(stored: StoredLink): Promise<void> {
  if (owner?.token === stored.token) return;
  closeOwnerRoom();
  const secrets = await linkSecrets(stored.token);
  const room = new RoomSignaling(socketFor(stored.server));
  const held: OwnerRoom = { token: stored.token, secrets, room, incoming: null };
  owner = held;
  room.on('signal', (from, data) => void onOwnerSignal(held, from, data));
  room.join(secrets.room).catch(() => {
    if (owner === held) owner = null;
  });
}

function closeOwnerRoom(): void {
  owner?.room.leave();
  owner = null;
}

async function onOwnerSignal(held: OwnerRoom, from: string, data: unknown): Promise<void> {
  const message = await open(held.secrets, data);
  if (message?.kind !== 'request') return;
  const { publicKey } = await profileIdentity();
  if (message.key === publicKey) return;
  if (
    !(await verifyText(
      message.key,
      linkRequestText(held.secrets.room, publicKey, message.key, message.nonce),
      message.sig,
    ))
  )
    return;
  if (held.incoming !== null || owner !== held) {
    if (held.incoming?.peerId !== from) await reply(held, from, { kind: 'decline', reason: 'used' });
    return;
  }
  if (asking !== null) dropRequest(asking);
  // The token is used up now, whatever the answer.
  const incoming: Incoming = {
    id: toBase64Url(crypto.getRandomValues(new Uint8Array(16))),
    peerId: from,
    key: message.key,
    name: cleanDisplayName(message.name, 'Someone'),
    nonce: message.nonce,
    timer: setTimeout(() => void dropRequest(held), ANSWER_TIMEOUT_MS),
  };
  held.incoming = incoming;
  owner = null;
  asking = held;
  popupsChanged();
  const stored = await storedLink();
  if (stored?.token === held.token) await chrome.storage.local.remove(STORAGE_KEY);
  await reply(held, from, { kind: 'received' });
  const base = {
    type: 'basic' as const,
    iconUrl: ICON,
    title: `${incoming.name} wants to add you as a contact`,
    message: 'They opened your contact link. Add them to call each other from Parley.',
    priority: 2,
  };
  const id = NOTIFICATION_PREFIX + incoming.id;
  try {
    await chrome.notifications.create(id, {
      ...base,
      requireInteraction: true,
      buttons: [{ title: 'Add contact' }, { title: 'Not now' }],
    });
  } catch {
    // Without buttons (Firefox): a click on the notification opens the popup's card.
    await chrome.notifications.create(id, base).catch(() => undefined);
  }
}

async function reply(held: OwnerRoom, to: string, message: LinkMessage): Promise<void> {
  held.room.send(to, await seal(held.secrets, message));
}

function dropRequest(held: OwnerRoom): void {
  if (held.incoming !== null) {
    void chrome.notifications.clear(NOTIFICATION_PREFIX + held.incoming.id).catch(() => undefined);
    clearTimeout(held.incoming.timer);
  }
  held.room.leave();
  if (asking === held) asking = null;
  popupsChanged();
}

export function answerContactRequest(
  id: string,
  answer: 'accept' | 'not-now',
): Promise<{ ok: true } | { ok: false; error: string }> {
  return serial(async () => {
    const held = asking;
    const incoming = held?.incoming;
    if (!held || !incoming || incoming.id !== id) return { ok: false, error: 'That request has ended.' };
    if (answer === 'not-now') {
      await reply(held, incoming.peerId, { kind: 'decline', reason: 'not-now' });
      setTimeout(() => dropRequest(held), 500);
      return { ok: true };
    }
    const identity = await profileIdentity();
    const ownNonce = newPairNonce();
    const nonce = toBase64Url(ownNonce);
    const { name } = await loadSettings();
    const sig = await signWithIdentity(
      linkAcceptText(held.secrets.room, identity.publicKey, incoming.key, nonce, incoming.nonce),
    );
    const theirNonce = fromBase64Url(incoming.nonce);
    if (theirNonce === null) return { ok: false, error: 'That request was damaged.' };
    await saveContact({
      ownKey: identity.publicKey,
      ownNonce,
      theirKey: incoming.key,
      theirNonce,
      name: incoming.name,
    });
    await reply(held, incoming.peerId, { kind: 'accept', name: cleanDisplayName(name, ''), nonce, sig });
    // Let the answer leave before the room is left.
    setTimeout(() => dropRequest(held), 500);
    await presence.ensure();
    return { ok: true };
  });
}

// ---------- requester ----------

interface Outgoing {
  link: ContactLink;
  name: string;
  state: 'waiting' | 'added' | 'refused';
  text: string;
  room: RoomSignaling | null;
  timer: ReturnType<typeof setTimeout> | null;
}

let outgoing: Outgoing | null = null;

function finish(out: Outgoing, state: 'added' | 'refused', text: string): void {
  out.state = state;
  out.text = text;
  popupsChanged();
  if (out.timer !== null) clearTimeout(out.timer);
  out.timer = null;
  out.room?.leave();
  out.room = null;
}

/** **Add contact** on someone's contact link. */
export async function addFromContactLink(text: string): Promise<{ ok: true } | { ok: false; error: string }> {
  const link = parseContactLink(text);
  if (!link) return { ok: false, error: 'That is not a Parley contact link.' };
  const identity = await profileIdentity();
  if (link.key === identity.publicKey) return { ok: false, error: 'This is your own contact link.' };
  const name = cleanDisplayName(link.name, 'This person');
  const known = await getContact(link.key);
  if (known && !known.blocked) return { ok: false, error: `${known.name} is already in your contacts.` };
  if (outgoing?.state === 'waiting') finish(outgoing, 'refused', 'Cancelled.');
  const secrets = await linkSecrets(link.token);
  const ownNonce = newPairNonce();
  const nonce = toBase64Url(ownNonce);
  const { name: ownName } = await loadSettings();
  const request = await seal(secrets, {
    kind: 'request',
    key: identity.publicKey,
    name: cleanDisplayName(ownName, 'Parley user'),
    nonce,
    sig: await signWithIdentity(linkRequestText(secrets.room, link.key, identity.publicKey, nonce)),
  });
  const room = new RoomSignaling(socketFor(link.server));
  const out: Outgoing = {
    link,
    name,
    state: 'waiting',
    text: `Asking ${name}…`,
    room,
    timer: null,
  };
  outgoing = out;
  const wait = (ms: number, said: string) => {
    if (out.timer !== null) clearTimeout(out.timer);
    out.timer = setTimeout(() => finish(out, 'refused', said), ms);
  };
  wait(
    RECEIPT_TIMEOUT_MS,
    `Nobody answered this link: it was already used, or ${name}'s browser is not running Parley. Ask ${name} for a new link.`,
  );
  room.on('peerJoined', (peer) => room.send(peer, request));
  room.on('signal', (_from, data) => void onRequesterSignal(out, secrets, nonce, ownNonce, data, wait));
  room.on('error', (_code, message) => {
    if (out.state === 'waiting') finish(out, 'refused', message);
  });
  try {
    const joined = await room.join(secrets.room);
    for (const peer of joined.peers) room.send(peer, request);
  } catch {
    if (out.state === 'waiting') finish(out, 'refused', 'The Parley server could not be reached.');
  }
  return { ok: true };
}

async function onRequesterSignal(
  out: Outgoing,
  secrets: LinkSecrets,
  nonce: string,
  ownNonce: Uint8Array<ArrayBuffer>,
  data: unknown,
  wait: (ms: number, said: string) => void,
): Promise<void> {
  const message = await open(secrets, data);
  if (message === null || out.state !== 'waiting' || outgoing !== out) return;
  if (message.kind === 'received') {
    out.text = `Waiting for ${out.name} to accept…`;
    popupsChanged();
    wait(ANSWER_TIMEOUT_MS, `${out.name} did not answer. Try the link again later.`);
    return;
  }
  if (message.kind === 'decline') {
    finish(
      out,
      'refused',
      message.reason === 'not-now'
        ? `${out.name} did not add you.`
        : `This contact link was already used. Ask ${out.name} for a new link.`,
    );
    return;
  }
  if (message.kind !== 'accept') return;
  const { publicKey } = await profileIdentity();
  const signed = linkAcceptText(secrets.room, out.link.key, publicKey, message.nonce, nonce);
  const theirNonce = fromBase64Url(message.nonce);
  if (theirNonce === null || !(await verifyText(out.link.key, signed, message.sig))) return;
  const contact = await saveContact({
    ownKey: publicKey,
    ownNonce,
    theirKey: out.link.key,
    theirNonce,
    name: cleanDisplayName(message.name, out.name),
  });
  finish(out, 'added', `${contact.name} is now in your contacts.`);
  await presence.ensure();
}

export async function contactLinkView(): Promise<ContactLinkView> {
  const stored = await storedLink();
  const { publicKey } = await profileIdentity();
  const incoming = asking?.incoming;
  return {
    link: stored
      ? formatContactLink({ server: stored.server, key: publicKey, token: stored.token, name: stored.name })
      : null,
    contactKeys: (await listContacts()).map((c) => c.key),
    requests: incoming
      ? [{ id: incoming.id, name: incoming.name, fingerprint: await keyFingerprint(incoming.key) }]
      : [],
    outgoing: outgoing
      ? { key: outgoing.link.key, name: outgoing.name, state: outgoing.state, text: outgoing.text }
      : null,
  };
}

export function startContactLinks(): void {
  chrome.notifications.onButtonClicked.addListener((id, index) => {
    if (!id.startsWith(NOTIFICATION_PREFIX)) return;
    void answerContactRequest(id.slice(NOTIFICATION_PREFIX.length), index === 0 ? 'accept' : 'not-now');
  });
  chrome.notifications.onClicked.addListener((id) => {
    if (!id.startsWith(NOTIFICATION_PREFIX)) return;
    void chrome.action.openPopup().catch(() => undefined);
  });
  void ensureContactLink();
}

/** A popup message about contact links (validated here), or undefined if it is none. */
export function handleContactLinkMessage(raw: unknown): Promise<unknown> | undefined {
  const message = parse(ContactLinkToBgSchema, raw);
  switch (message?.type) {
    case 'contact-link-state':
      return contactLinkView();
    case 'contact-link-share':
      return shareContactLink();
    case 'contact-link-add':
      return addFromContactLink(message.link);
    case 'contact-link-answer':
      return answerContactRequest(message.id, message.answer);
    default:
      return undefined;
  }
}
