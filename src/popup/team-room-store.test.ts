import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseShareLink } from '../protocol/link.ts';
import { joinKeyFor } from '../protocol/team-room.ts';
import { peopleText } from './team-room-count.ts';
import {
  addTeamRoom,
  checkName,
  loadTeamRooms,
  removeTeamRoom,
  renameTeamRoom,
  teamRoomLink,
} from './team-room-store.ts';

let stored: Record<string, unknown>;

beforeEach(() => {
  stored = {};
  (globalThis as { chrome?: unknown }).chrome = {
    storage: {
      local: {
        get: async (key: string) => (key in stored ? { [key]: structuredClone(stored[key]) } : {}),
        set: async (items: Record<string, unknown>) => Object.assign(stored, structuredClone(items)),
      },
    },
  };
});

afterEach(() => {
  delete (globalThis as { chrome?: unknown }).chrome;
});

describe('team rooms kept in the extension', () => {
  it('adds, renames and removes rooms; each keeps a link whose secret makes its room id', async () => {
    const design = await addTeamRoom('Design team', 'http://127.0.0.1:8787/');
    const ops = await addTeamRoom('Ops', 'http://127.0.0.1:8787');
    expect((await loadTeamRooms()).map((r) => r.name)).toEqual(['Design team', 'Ops']);
    const link = parseShareLink(teamRoomLink(design));
    expect(link).toEqual({ server: 'http://127.0.0.1:8787', room: design.room, secret: design.secret });
    expect(await joinKeyFor(design.room, design.secret)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await renameTeamRoom(design.room, 'Product');
    await removeTeamRoom(ops.room);
    const left = await loadTeamRooms();
    expect(left).toEqual([{ ...design, name: 'Product' }]);
    // The link is the same after a rename: nothing about it changes or expires.
    expect(teamRoomLink(left[0]!)).toBe(teamRoomLink(design));
  });

  it('skips stored entries that are not team rooms instead of breaking the popup', async () => {
    const good = await addTeamRoom('Design team', 'http://127.0.0.1:8787');
    stored.teamRooms = [
      good,
      { ...good, room: 'abcdefghijklmnopqrstuv' },
      { ...good, name: '' },
      'junk',
      { name: 'No link' },
    ];
    expect(await loadTeamRooms()).toEqual([good]);
    stored.teamRooms = { not: 'a list' };
    expect(await loadTeamRooms()).toEqual([]);
  });

  it('checks names and says how many are in the call', () => {
    expect(checkName('  Design   team ')).toEqual({ name: 'Design team' });
    expect(checkName('   ')).toHaveProperty('error');
    expect(checkName('x'.repeat(41))).toHaveProperty('error');
    expect(peopleText(0)).toBe('Nobody in the call');
    expect(peopleText(1)).toBe('1 in the call');
    expect(peopleText(3)).toBe('3 in the call');
    expect(peopleText(undefined)).toBe('Cannot reach the server');
  });
});
