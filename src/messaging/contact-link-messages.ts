/**
 * Popup → service worker messages about contact links (src/background/contact-link.ts),
 * validated on receipt like every other popup message (./messages.ts).
 */
import * as v from 'valibot';
import { askBackgroundRaw } from './runtime.ts';

/** The popup's view of contact links. */
export interface ContactLinkView {
  /** This profile's unused link, if it shared one. */
  link: string | null;
  /** People asking to be added through it (at most one: the token works once). */
  requests: { id: string; name: string; fingerprint: string }[];
  /** Keys of saved contacts (a link of one of them offers nothing to add). */
  contactKeys: string[];
  /** This profile's request made from someone's link: how it stands, in words. */
  outgoing: { key: string; name: string; state: 'waiting' | 'added' | 'refused'; text: string } | null;
}

export const ContactLinkToBgSchema = v.variant('type', [
  /** What the popup shows: the unused link, requests through it, our own request's state. */
  v.strictObject({ type: v.literal('contact-link-state') }),
  /** **Share my contact link**: the unused link, made now if there is none. */
  v.strictObject({ type: v.literal('contact-link-share') }),
  /** **Add contact** on someone's contact link (the tab's address or pasted). */
  v.strictObject({ type: v.literal('contact-link-add'), link: v.pipe(v.string(), v.maxLength(2048)) }),
  /** **Add contact** / **Not now** on "Bo wants to add you as a contact". */
  v.strictObject({
    type: v.literal('contact-link-answer'),
    id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{22}$/)),
    answer: v.picklist(['accept', 'not-now']),
  }),
]);
export type ContactLinkToBg = v.InferOutput<typeof ContactLinkToBgSchema>;

type Result = { ok: true } | { ok: false; error: string };

export interface ContactLinkReplies {
  'contact-link-state': ContactLinkView;
  'contact-link-share': { ok: true; link: string } | { ok: false; error: string };
  'contact-link-add': Result;
  'contact-link-answer': Result;
}

export function askContactLink<M extends ContactLinkToBg>(
  message: M,
): Promise<ContactLinkReplies[M['type']]> {
  return askBackgroundRaw(message) as Promise<ContactLinkReplies[M['type']]>;
}
