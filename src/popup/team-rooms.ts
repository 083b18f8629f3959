/**
 * The popup's **Team rooms**: rooms with a name and a link that stays the same, kept in this
 * browser (./team-room-store.ts). **New team room** makes one from a name; each room has
 * **Join** (the call opens like a pasted link's), **Copy link**, **Rename**, **Remove**, and
 * shows how many people are in it now (./team-room-count.ts), asked again every few seconds
 * while the popup is open. Names are rendered as text.
 */
import { countPeople, peopleText } from './team-room-count.ts';
import {
  addTeamRoom,
  checkName,
  loadTeamRooms,
  NAME_MAX,
  removeTeamRoom,
  renameTeamRoom,
  type TeamRoom,
  teamRoomLink,
} from './team-room-store.ts';

export interface TeamRoomsHost {
  say(text: string, isError?: boolean): void;
  /** Join the call of a link on the tab the popup is on (the path of a pasted link). */
  join(link: string): Promise<void>;
  /** The signaling server in the settings (a new team room's link points at it). */
  server(): Promise<string>;
}

const COUNT_EVERY_MS = 2000;

export function initTeamRooms(host: TeamRoomsHost): void {
  const $ = (id: string) => document.getElementById(id) as HTMLElement;
  const list = $('team-rooms');
  const empty = $('no-team-rooms');
  const form = $('new-team-room') as HTMLFormElement;
  const nameInput = $('team-room-name') as HTMLInputElement;
  nameInput.maxLength = NAME_MAX;
  let rooms: TeamRoom[] = [];
  let counts = new Map<string, number>();
  let counted = false;
  let editing = false;

  function button(text: string, label: string, onClick: () => void): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  }

  /** The count line of each room, updated in place (a rebuild would take keyboard focus away). */
  const peopleLines = new Map<string, HTMLElement>();
  let shown = '';

  function render(): void {
    if (editing) return;
    const signature = JSON.stringify(rooms);
    if (signature !== shown) {
      shown = signature;
      empty.hidden = rooms.length > 0;
      peopleLines.clear();
      list.replaceChildren(...rooms.map(item));
    }
    for (const room of rooms) {
      const line = peopleLines.get(room.room);
      if (line) line.textContent = counted ? peopleText(counts.get(room.room)) : 'Checking…';
    }
  }

  function item(room: TeamRoom): HTMLLIElement {
    const li = document.createElement('li');
    li.className = 'team-room';
    const who = document.createElement('div');
    who.className = 'who';
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = room.name;
    const people = document.createElement('span');
    people.className = 'state';
    peopleLines.set(room.room, people);
    who.append(name, people);
    const actions = document.createElement('div');
    actions.className = 'row';
    actions.append(
      button('Join', `Join ${room.name}`, () => void join(room)),
      button('Copy link', `Copy link of ${room.name}`, () => void copyLink(room)),
      button('Rename', `Rename ${room.name}`, () => renameForm(li, room)),
      button('Remove', `Remove ${room.name}`, () => void remove(room)),
    );
    li.append(who, actions);
    return li;
  }

  async function reload(): Promise<void> {
    rooms = await loadTeamRooms();
    render();
  }

  let counting = false;
  async function recount(): Promise<void> {
    if (counting) return;
    counting = true;
    try {
      counts = await countPeople(rooms);
      counted = true;
    } finally {
      counting = false;
    }
    render();
  }

  async function join(room: TeamRoom): Promise<void> {
    host.say(`Joining ${room.name}…`);
    await host.join(teamRoomLink(room));
  }

  async function copyLink(room: TeamRoom): Promise<void> {
    const link = teamRoomLink(room);
    try {
      await navigator.clipboard.writeText(link);
      host.say(`Link of ${room.name} copied.`);
    } catch {
      host.say(`Copy this link: ${link}`);
    }
  }

  async function remove(room: TeamRoom): Promise<void> {
    await removeTeamRoom(room.room);
    host.say(`${room.name} was removed from this browser. Anyone with its link can still join it.`);
    await reload();
  }

  function renameForm(item: HTMLLIElement, room: TeamRoom): void {
    if (editing) return;
    editing = true;
    const rename = document.createElement('form');
    rename.className = 'row';
    const input = document.createElement('input');
    input.type = 'text';
    input.maxLength = NAME_MAX;
    input.value = room.name;
    input.setAttribute('aria-label', `New name for ${room.name}`);
    const save = document.createElement('button');
    save.type = 'submit';
    save.textContent = 'Save name';
    const cancel = button('Cancel', `Keep the name ${room.name}`, () => {
      editing = false;
      shown = '';
      render();
    });
    rename.append(input, save, cancel);
    rename.addEventListener('submit', async (event) => {
      event.preventDefault();
      const checked = checkName(input.value);
      if ('error' in checked) {
        host.say(checked.error, true);
        return;
      }
      editing = false;
      await renameTeamRoom(room.room, checked.name);
      host.say(`Renamed to ${checked.name}.`);
      await reload();
    });
    item.append(rename);
    input.focus();
    input.select();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const checked = checkName(nameInput.value);
    if ('error' in checked) {
      host.say(checked.error, true);
      return;
    }
    let room: TeamRoom;
    try {
      room = await addTeamRoom(checked.name, await host.server());
    } catch {
      host.say('Set the signaling server in Settings first.', true);
      return;
    }
    nameInput.value = '';
    host.say(`${room.name} is ready. Copy its link to invite your team.`);
    await reload();
    await recount();
  });

  void reload().then(recount);
  setInterval(() => void recount().catch(() => {}), COUNT_EVERY_MS);
}
