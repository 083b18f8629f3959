/**
 * The popup's **Contacts** list: name (peer-chosen text, rendered as text), verified mark,
 * available or not, and **Rename**, **Remove**, **Block** for each. Rebuilt only when what
 * it shows changed, and never while a name is being edited.
 */
import type { ContactView } from '../messaging/messages.ts';
import { askBackground } from '../messaging/runtime.ts';

export interface ListHost {
  say(text: string, isError?: boolean): void;
  refresh(): Promise<void>;
  /** **Call Ana** / **Audio call Ana**: ring from the tab the popup is on. */
  ring(contact: ContactView, media: 'video' | 'audio'): void;
}

let shown = '';
let editing = false;

function button(text: string, label: string, onClick: () => void, className = ''): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  if (className) b.className = className;
  b.addEventListener('click', onClick);
  return b;
}

function span(className: string, text: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}

async function act(
  host: ListHost,
  contact: ContactView,
  action: 'rename' | 'remove' | 'block' | 'unblock',
  done: string,
  name?: string,
): Promise<void> {
  const result = await askBackground({
    type: 'contact-action',
    key: contact.key,
    action,
    ...(name === undefined ? {} : { name }),
  });
  host.say(result.ok ? done : result.error, !result.ok);
  await host.refresh();
}

function renameForm(item: HTMLLIElement, contact: ContactView, host: ListHost): void {
  editing = true;
  const form = document.createElement('form');
  form.className = 'row';
  const input = document.createElement('input');
  input.type = 'text';
  input.maxLength = 40;
  input.value = contact.name;
  input.setAttribute('aria-label', `New name for ${contact.name}`);
  const save = document.createElement('button');
  save.type = 'submit';
  save.textContent = 'Save name';
  form.append(input, save);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = input.value.trim();
    editing = false;
    shown = '';
    if (name) void act(host, contact, 'rename', `Renamed to ${name}.`, name);
    else void host.refresh();
  });
  item.append(form);
  input.focus();
  input.select();
}

export function renderContacts(list: HTMLElement, contacts: ContactView[], host: ListHost): void {
  const signature = JSON.stringify(contacts);
  if (editing || signature === shown) return;
  shown = signature;
  list.replaceChildren(
    ...contacts.map((contact) => {
      const item = document.createElement('li');
      item.className = 'contact';
      const who = document.createElement('div');
      who.className = 'who';
      who.append(span('name', contact.name));
      if (contact.verified) who.append(span('verified', '✓ Verified'));
      const state = contact.blocked ? 'Blocked' : contact.online ? 'Available' : 'Not available';
      who.append(span(`state${contact.online && !contact.blocked ? ' online' : ''}`, state));
      const key = span('hint', `Key ${contact.fingerprint}`);
      key.setAttribute('translate', 'no');
      const calls = document.createElement('div');
      calls.className = 'row';
      if (!contact.blocked) {
        calls.append(
          button('Call', `Call ${contact.name}`, () => host.ring(contact, 'video'), 'primary'),
          button('Audio call', `Audio call ${contact.name}`, () => host.ring(contact, 'audio')),
        );
      }
      const actions = document.createElement('div');
      actions.className = 'row';
      actions.append(
        button('Rename', `Rename ${contact.name}`, () => renameForm(item, contact, host)),
        button(
          'Remove',
          `Remove ${contact.name}`,
          () => void act(host, contact, 'remove', `${contact.name} was removed from your contacts.`),
        ),
        contact.blocked
          ? button(
              'Unblock',
              `Unblock ${contact.name}`,
              () => void act(host, contact, 'unblock', `${contact.name} can call you again.`),
            )
          : button(
              'Block',
              `Block ${contact.name}`,
              () => void act(host, contact, 'block', `${contact.name} can no longer call you.`),
            ),
      );
      item.append(who, key, calls, actions);
      return item;
    }),
  );
}
