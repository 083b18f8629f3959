/**
 * What a call's overlay may ask of the profile's identity, over its (claimed) port: our key,
 * a signature over a contact binding or, in a call between contacts, over our description
 * (never over text the overlay chose: the worker builds the signed text, with the call id and
 * the contact's key from its own record of the overlay's call), saving a contact both sides
 * agreed to, whether a key is a contact, and the result of **Verify**.
 */
import { signCallDescription, signContactBinding } from '../identity/binding.ts';
import { fromBase64Url, toBase64Url } from '../identity/bytes.ts';
import { newPairNonce } from '../identity/mailbox.ts';
import type { IdentityRequest } from '../messaging/messages.ts';
import { getCall } from './call-registry.ts';
import { getContact, saveContact, updateContact } from './contacts.ts';
import { profileIdentity } from './identity.ts';
import { presence } from './presence.ts';

function nonceBytes(text: string): Uint8Array<ArrayBuffer> {
  const bytes = fromBase64Url(text);
  if (bytes === null || bytes.length !== 32) throw new Error('A pair nonce is 32 bytes.');
  return bytes;
}

/** `callId`: the call of the overlay that asks (its port claimed it). */
export async function answerIdentityRequest(request: IdentityRequest, callId: string): Promise<unknown> {
  const identity = await profileIdentity();
  switch (request.kind) {
    case 'self':
      return { key: identity.publicKey };
    case 'sign-contact':
      return {
        key: identity.publicKey,
        sig: await signContactBinding(identity, request.binding),
        nonce: toBase64Url(newPairNonce()),
      };
    case 'save-contact': {
      if (request.key === identity.publicKey) return { ok: false };
      await saveContact({
        ownKey: identity.publicKey,
        ownNonce: nonceBytes(request.ownNonce),
        theirKey: request.key,
        theirNonce: nonceBytes(request.theirNonce),
        name: request.name,
      });
      // A first contact turns Available for calls on (unless the person turned it off).
      await presence.ensure();
      return { ok: true };
    }
    case 'lookup': {
      const contact = await getContact(request.key);
      return { contact: contact ? { name: contact.name, verified: contact.verified } : null };
    }
    case 'sign-call': {
      const ring = (await getCall(callId))?.ring;
      // Only a call between contacts is signed by the key, and only for that contact.
      if (!ring) return null;
      const binding = {
        callId: ring.callId,
        senderPeerId: request.senderPeerId,
        recipientKey: ring.contactKey,
        sdp: request.sdp,
      };
      return { sig: await signCallDescription(identity, binding) };
    }
    case 'verified': {
      const contact = await updateContact(request.key, (c) => ({ ...c, verified: request.match }));
      return { ok: contact !== undefined };
    }
  }
}
