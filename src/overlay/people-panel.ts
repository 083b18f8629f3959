/**
 * **People (N)**: who is in the call, you first, each with their state (muted, camera off,
 * connecting, reconnecting, speaking). Names come from the peers: text nodes only.
 */
import type { CallMedia } from '../call/media.ts';
import type { RemotePeer } from '../call/session.ts';
import { el, setText } from './ui/dom.ts';

export interface LocalPerson {
  name: string;
  micOn: boolean;
  cameraOn: boolean;
}

/** The state words for one person ("muted, camera off"), empty when all is well. */
export function personState(
  person: { micOn: boolean; cameraOn: boolean; connection?: RemotePeer['connection'] },
  media: CallMedia,
  speaking = false,
): string {
  const words: string[] = [];
  if (person.connection === 'connecting') words.push('connecting…');
  if (person.connection === 'reconnecting') words.push('reconnecting…');
  if (!person.micOn) words.push('muted');
  if (media === 'video' && !person.cameraOn) words.push('camera off');
  if (speaking && person.micOn) words.push('speaking');
  return words.join(', ');
}

export interface PeoplePanel {
  update(local: LocalPerson, peers: readonly RemotePeer[], speaker: string | null): void;
}

export function mountPeoplePanel(host: HTMLElement, media: CallMedia): PeoplePanel {
  const heading = el('h2', { class: 'parley-people-title' });
  const list = el('ul', { class: 'parley-people-list', 'aria-label': 'People in the call' });
  host.append(heading, list);

  function item(name: string, state: string, key: string): HTMLLIElement {
    return el(
      'li',
      { class: 'parley-person', 'data-peer': key },
      el('span', { class: 'parley-person-name' }, name),
      state ? el('span', { class: 'parley-person-state' }, state) : null,
    );
  }

  return {
    update(local, peers, speaker) {
      setText(heading, `People in the call (${peers.length + 1})`);
      list.replaceChildren(
        item(`${local.name} (you)`, personState(local, media), ''),
        ...peers.map((p) => item(p.name, personState(p, media, p.peerId === speaker), p.peerId)),
      );
    },
  };
}
