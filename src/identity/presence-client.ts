/**
 * The messages a client sends to register its presence and to ring, built from the identity
 * (src/protocol/presence.ts has their schemas). For the service worker's presence socket:
 *
 *   send {v:1, type:'challenge'}                 → challenge {nonce}
 *   send await registerMessage(id, server, nonce) → registered {key, mailboxes: [], now}
 *   send mailboxesMessage(contacts' inboxes)      → registered {…, mailboxes: ids}
 *   send await ringMessage(id, {mailbox, room, media, now: serverNow()})
 */
import { normalizeServerUrl } from '../protocol/link.ts';
import {
  type MailboxesMessage,
  presenceProofText,
  type RegisterMessage,
  type RingAnswer,
  type RingAnswerMessage,
  type RingOutMessage,
} from '../protocol/presence.ts';
import { createInvite, type InviteRequest } from './invite.ts';
import { type Identity, signText } from './keys.ts';
import type { Mailbox } from './mailbox.ts';

/**
 * The origin a presence proof names for the server address in the settings
 * (`https://parley.example/some/path` → `https://parley.example`). The server must see the
 * same (its PUBLIC_ORIGIN, or the scheme and Host it was reached at).
 */
export function presenceOrigin(serverAddress: string): string {
  return new URL(normalizeServerUrl(serverAddress)).origin;
}

export async function registerMessage(
  identity: Identity,
  serverAddress: string,
  nonce: string,
): Promise<RegisterMessage> {
  const signature = await signText(
    identity,
    presenceProofText(presenceOrigin(serverAddress), nonce, identity.publicKey),
  );
  return { v: 1, type: 'register', key: identity.publicKey, signature };
}

/** Registers where this profile receives rings: one inbox per contact (mailboxFor(secret, own key)). */
export function mailboxesMessage(inboxes: readonly Mailbox[]): MailboxesMessage {
  return { v: 1, type: 'mailboxes', tags: inboxes.map((m) => m.tag) };
}

/** Rings a contact at their inbox for us (mailboxFor(secret, their key).id). */
export async function ringMessage(identity: Identity, request: InviteRequest): Promise<RingOutMessage> {
  return { v: 1, type: 'ring', invite: await createInvite(identity, request) };
}

export function ringAnswerMessage(callId: string, answer: RingAnswer): RingAnswerMessage {
  return { v: 1, type: 'ring-answer', callId, answer };
}

/**
 * The server's clock from a `registered` message: make and check invite expiries with
 * `serverNow()` so two browsers whose clocks disagree still agree on "expired".
 */
export function serverClock(registeredNow: number, receivedAt = Date.now()): () => number {
  const offset = registeredNow - receivedAt;
  return () => Date.now() + offset;
}
