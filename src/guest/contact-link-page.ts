/**
 * The page a contact link (`<server>/c#k=…&t=…&n=…`, src/protocol/contact-link.ts) opens. A
 * web page cannot keep keys or contacts, and cannot reach the extension (Parley asks for no
 * access to sites): so it says what to do with Parley (its toolbar button offers **Add
 * contact** on this tab) and what installing Parley would add. The fragment is read here
 * and goes nowhere: no request carries it.
 */
import { keyFingerprint } from '../identity/fingerprint.ts';
import { el } from '../overlay/ui/dom.ts';
import type { ContactLink } from '../protocol/contact-link.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';

export async function showContactLinkPage(root: HTMLElement, link: ContactLink): Promise<void> {
  const name = cleanDisplayName(link.name, 'Someone');
  document.title = `${name}'s Parley contact link`;
  root.replaceChildren(
    el(
      'section',
      { class: 'guest-contact-link', 'aria-labelledby': 'contact-link-heading' },
      el('h1', { id: 'contact-link-heading' }, `${name}'s Parley contact link`),
      el('p', {}, `Key ${await keyFingerprint(link.key)}`),
      el('h2', {}, 'With Parley'),
      el(
        'p',
        {},
        `Click the Parley button in your browser's toolbar: it offers Add contact for this link. ${name} is asked too; once you both agree, you can call each other from Parley. The link works once.`,
      ),
      el('h2', {}, 'Without Parley'),
      el(
        'p',
        {},
        `This page cannot keep contacts. Installing the Parley extension would add them: ${name} in your Parley contacts, with whether they are available; calling them with one click and your browser ringing when they call; and keys that prove it is really them. No account, no phone number, and calls go straight between your browsers.`,
      ),
    ),
  );
}
