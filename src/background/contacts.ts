/**
 * Contacts: people this profile saved, both sides agreeing, in a call the link secret (or,
 * for a ring call, their keys) verified. Kept in chrome.storage.local (extension pages and
 * the worker only; content scripts cannot read it). Each holds the pair secret both sides
 * derived (src/identity/mailbox.ts), from which come the two mailboxes: our inbox for their
 * rings (registered with the server) and their inbox for ours (rung and watched).
 */
import { toBase64Url } from '../identity/bytes.ts';
import { derivePairSecret, type Mailbox, mailboxFor } from '../identity/mailbox.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';

export interface Contact {
  /** Their public key, pinned when saved: rings and calls must be signed by it. */
  key: string;
  name: string;
  /** The 32-byte pair secret, base64url. */
  secret: string;
  /** Where we receive their rings (we register its tag). */
  inbox: Mailbox;
  /** Where they receive ours (we ring and watch its id). */
  outbox: string;
  /** They matched the short authentication string (**Verify**, **They match**). */
  verified: boolean;
  /** Blocked: not registered, not watched, their rings dropped. */
  blocked: boolean;
  addedAt: number;
}

const KEY = 'contacts';
let queue: Promise<unknown> = Promise.resolve();

function exclusive<T>(task: () => Promise<T>): Promise<T> {
  const next = queue.then(task, task);
  queue = next.catch(() => undefined);
  return next;
}

async function readAll(): Promise<Record<string, Contact>> {
  return ((await chrome.storage.local.get(KEY))[KEY] as Record<string, Contact> | undefined) ?? {};
}

export function listContacts(): Promise<Contact[]> {
  return exclusive(async () => Object.values(await readAll()).sort((a, b) => a.addedAt - b.addedAt));
}

export async function getContact(key: string): Promise<Contact | undefined> {
  return (await listContacts()).find((c) => c.key === key);
}

/** Change one contact; undefined from `change` removes it. Resolves with the new record. */
export function updateContact(
  key: string,
  change: (contact: Contact) => Contact | undefined,
): Promise<Contact | undefined> {
  return exclusive(async () => {
    const all = await readAll();
    const current = all[key];
    if (!current) return undefined;
    const next = change({ ...current });
    if (next) all[key] = next;
    else delete all[key];
    await chrome.storage.local.set({ [KEY]: all });
    return next;
  });
}

export interface NewContact {
  ownKey: string;
  ownNonce: Uint8Array<ArrayBuffer>;
  theirKey: string;
  theirNonce: Uint8Array<ArrayBuffer>;
  name: string;
}

/**
 * Save (or save again: a new exchange with the same key replaces the pair secret) a contact
 * both sides agreed to. A blocked key stays blocked.
 */
export async function saveContact(input: NewContact, now = Date.now()): Promise<Contact> {
  const secret = await derivePairSecret(
    { publicKey: input.ownKey, nonce: input.ownNonce },
    { publicKey: input.theirKey, nonce: input.theirNonce },
  );
  const inbox = await mailboxFor(secret, input.ownKey);
  const outbox = (await mailboxFor(secret, input.theirKey)).id;
  return exclusive(async () => {
    const all = await readAll();
    const before = all[input.theirKey];
    const contact: Contact = {
      key: input.theirKey,
      name: before?.name ?? cleanDisplayName(input.name, 'Contact'),
      secret: toBase64Url(secret),
      inbox,
      outbox,
      verified: false,
      blocked: before?.blocked ?? false,
      addedAt: before?.addedAt ?? now,
    };
    all[contact.key] = contact;
    await chrome.storage.local.set({ [KEY]: all });
    return contact;
  });
}
