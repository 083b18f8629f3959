/**
 * What a reloaded guest page trusts from its tab's sessionStorage: only a well-formed, fresh
 * entry for the same room (anything else: the name card, as on a first visit).
 */
import { describe, expect, it } from 'vitest';
import {
  clearRejoinEntry,
  formatRejoinEntry,
  parseRejoinEntry,
  REJOIN_KEY,
  REJOIN_MAX_AGE_MS,
  type RejoinEntry,
  readRejoinEntry,
  saveRejoinEntry,
} from './rejoin.ts';

const ROOM = 'RRRRRRRRRRRRRRRRRRRRRR';
const NOW = 1_800_000_000_000;
const ENTRY: RejoinEntry = {
  room: ROOM,
  peerId: 'PPPPPPPPPPPPPPPPPPPPPP',
  token: 'TTTTTTTTTTTTTTTTTTTTTT',
  name: 'Bo',
  camera: true,
  at: NOW - 5000,
};

/** A Storage over a Map, optionally throwing as a blocked one does. */
function memoryStorage(blocked = false): Storage {
  const map = new Map<string, string>();
  const check = () => {
    if (blocked) throw new DOMException('blocked', 'SecurityError');
  };
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    key: (i: number) => [...map.keys()][i] ?? null,
    getItem: (k: string) => {
      check();
      return map.get(k) ?? null;
    },
    setItem: (k: string, value: string) => {
      check();
      map.set(k, value);
    },
    removeItem: (k: string) => {
      check();
      map.delete(k);
    },
  };
}

const withField = (field: string, value: unknown) =>
  JSON.stringify({ ...JSON.parse(formatRejoinEntry(ENTRY)), [field]: value });

describe('parseRejoinEntry', () => {
  it('reads back what was written, for the same room, while fresh', () => {
    expect(parseRejoinEntry(formatRejoinEntry(ENTRY), ROOM, NOW)).toEqual(ENTRY);
  });

  it('ignores an entry for another room, an old one, and one from the future', () => {
    expect(parseRejoinEntry(formatRejoinEntry(ENTRY), 'OOOOOOOOOOOOOOOOOOOOOO', NOW)).toBeNull();
    expect(parseRejoinEntry(formatRejoinEntry(ENTRY), ROOM, ENTRY.at + REJOIN_MAX_AGE_MS + 1)).toBeNull();
    expect(parseRejoinEntry(formatRejoinEntry(ENTRY), ROOM, ENTRY.at - 1)).toBeNull();
  });

  it('refuses anything not shaped as an entry', () => {
    for (const raw of [
      null,
      '',
      'not json',
      'null',
      '[]',
      '"parley"',
      JSON.stringify({ ...ENTRY }), // no version
      withField('v', 2),
      withField('peerId', 'short'),
      withField('peerId', 'PPPPPPPPPPPPPPPPPPPP/+'),
      withField('token', ''),
      withField('token', 42),
      withField('room', `${ROOM}<script>`),
      withField('name', ''),
      withField('name', 'x'.repeat(500)),
      withField('camera', 'yes'),
      withField('at', 'now'),
      withField('extra', 1),
      formatRejoinEntry(ENTRY) + ' '.repeat(2000),
    ]) {
      expect(parseRejoinEntry(raw, ROOM, NOW), String(raw).slice(0, 80)).toBeNull();
    }
  });

  it('cleans the name as any display name (no hidden characters, at most 64)', () => {
    const raw = withField('name', '  Bo\u202e\u200b  the   builder ');
    expect(parseRejoinEntry(raw, ROOM, NOW)?.name).toBe('Bo the builder');
  });
});

describe('the tab storage', () => {
  it('saves, reads and clears under one key', () => {
    const storage = memoryStorage();
    const entry = { ...ENTRY, at: Date.now() };
    saveRejoinEntry(entry, storage);
    expect(storage.getItem(REJOIN_KEY)).toBe(formatRejoinEntry(entry));
    expect(readRejoinEntry(ROOM, storage)).toEqual(entry);
    clearRejoinEntry(storage);
    expect(readRejoinEntry(ROOM, storage)).toBeNull();
  });

  it('a blocked or missing storage means no entry, never an exception', () => {
    const blocked = memoryStorage(true);
    expect(() => saveRejoinEntry(ENTRY, blocked)).not.toThrow();
    expect(readRejoinEntry(ROOM, blocked)).toBeNull();
    expect(() => clearRejoinEntry(blocked)).not.toThrow();
    expect(readRejoinEntry(ROOM, null)).toBeNull();
  });
});
