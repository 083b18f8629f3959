/**
 * What the popup may do with contacts (**Rename**, **Remove**, **Block**) and how it sees them.
 * Every change re-registers the presence socket's inboxes and watch list at once: a removed
 * or blocked contact's inbox is no longer held, so their rings no longer reach this browser,
 * and the invite checker (./rings.ts) refuses them anyway.
 */
import { keyFingerprint } from '../identity/fingerprint.ts';
import type { ContactView, SimpleResult } from '../messaging/messages.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';
import { listContacts, updateContact } from './contacts.ts';
import { presence } from './presence.ts';

export async function contactViews(): Promise<ContactView[]> {
  return Promise.all(
    (await listContacts()).map(async (c) => ({
      key: c.key,
      name: c.name,
      fingerprint: await keyFingerprint(c.key),
      verified: c.verified,
      blocked: c.blocked,
      online: !c.blocked && presence.isOnline(c),
    })),
  );
}

export async function contactAction(
  key: string,
  action: 'rename' | 'remove' | 'block' | 'unblock',
  name?: string,
): Promise<SimpleResult> {
  const changed = await updateContact(key, (c) => {
    switch (action) {
      case 'rename':
        return { ...c, name: cleanDisplayName(name ?? '', c.name) };
      case 'remove':
        return undefined;
      case 'block':
        return { ...c, blocked: true };
      case 'unblock':
        return { ...c, blocked: false };
    }
  });
  if (changed === undefined && action !== 'remove') return { ok: false, error: 'That contact is gone.' };
  await presence.ensure();
  return { ok: true };
}
