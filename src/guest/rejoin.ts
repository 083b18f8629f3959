/**
 * Coming back to the call after a reload. A guest page cannot tell a reload from the tab
 * closing, so it never hangs up on `pagehide`: it keeps what it needs to come back in the tab's
 * sessionStorage (per tab, survives a reload and a crashed tab's reload, gone with the tab):
 * the room, its peer id and resume token (the server keeps the place for its resume grace),
 * the name and whether the camera was on. The next page of the same link in the same tab
 * finds it, skips the name card, and joins with the token: the same peer id, so the others
 * keep the person's tile and take the new page's offer as a new connection (see
 * src/call/remote-participant.ts, "waiting for a reload").
 *
 * What is read back is untrusted (another script of the origin, an older version): its shape
 * is checked, and an entry for another room, or older than REJOIN_MAX_AGE_MS, is ignored (the
 * name card then shows as for a first visit). A token the server no longer knows is harmless:
 * it joins us afresh under a new id.
 *
 * A duplicated tab gets a copy of the sessionStorage: the page holding a peer id holds a Web
 * Lock named after it, and a page that finds the lock held elsewhere for a moment does not
 * take that place (it would cut the other tab out of the call: the server gives the id to
 * the newest socket) but shows the name card.
 */
import * as v from 'valibot';
import { cleanDisplayName, MAX_NAME_LENGTH } from '../protocol/peer-call.ts';
import { PEER_ID_PATTERN, RESUME_TOKEN_PATTERN, ROOM_ID_PATTERN } from '../protocol/signaling.ts';

/** The sessionStorage key. */
export const REJOIN_KEY = 'parley.rejoin';

/**
 * An entry older than this is not used (the server's default resume grace: after it the
 * place is gone anyway, and a page opened much later should ask before joining). The page
 * refreshes its entry every REJOIN_REFRESH_MS while in the call, and when it goes.
 */
export const REJOIN_MAX_AGE_MS = 60_000;
export const REJOIN_REFRESH_MS = 15_000;

/** How long a new page waits for the place's lock (the old page of a reload lets go at once). */
export const PLACE_LOCK_WAIT_MS = 2000;

export interface RejoinEntry {
  room: string;
  peerId: string;
  token: string;
  name: string;
  camera: boolean;
  /** Date.now() when written. */
  at: number;
}

const EntrySchema = v.strictObject({
  v: v.literal(1),
  room: v.pipe(v.string(), v.regex(ROOM_ID_PATTERN)),
  peerId: v.pipe(v.string(), v.regex(PEER_ID_PATTERN)),
  token: v.pipe(v.string(), v.regex(RESUME_TOKEN_PATTERN)),
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_NAME_LENGTH * 2)),
  camera: v.boolean(),
  at: v.pipe(v.number(), v.finite()),
});

export function formatRejoinEntry(entry: RejoinEntry): string {
  return JSON.stringify({ v: 1, ...entry });
}

/**
 * The entry in `raw` if it is well-formed, for `room`, and fresh at `now` (one from the future,
 * a clock set back, counts as stale too); else null.
 */
export function parseRejoinEntry(raw: string | null, room: string, now: number): RejoinEntry | null {
  if (raw === null || raw.length > 1024) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  const parsed = v.safeParse(EntrySchema, json);
  if (!parsed.success) return null;
  const { v: _version, ...entry } = parsed.output;
  if (entry.room !== room) return null;
  const age = now - entry.at;
  if (age < 0 || age > REJOIN_MAX_AGE_MS) return null;
  return { ...entry, name: cleanDisplayName(entry.name) };
}

/** The tab's sessionStorage, or null where the page may not use it. */
function tabStorage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

export function readRejoinEntry(room: string, storage = tabStorage()): RejoinEntry | null {
  try {
    return parseRejoinEntry(storage?.getItem(REJOIN_KEY) ?? null, room, Date.now());
  } catch {
    return null;
  }
}

export function saveRejoinEntry(entry: RejoinEntry, storage = tabStorage()): void {
  try {
    storage?.setItem(REJOIN_KEY, formatRejoinEntry(entry));
  } catch {
    // Storage full or blocked: a reload then asks for the name, as before.
  }
}

export function clearRejoinEntry(storage = tabStorage()): void {
  try {
    storage?.removeItem(REJOIN_KEY);
  } catch {
    // Nothing to do.
  }
}

const held = new Set<string>();

/**
 * Hold the Web Lock of this peer id for as long as the page lives. Resolves true once held
 * (at once where the browser has no Web Locks), false if another page kept it for `waitMs`.
 */
export function holdPlace(peerId: string, waitMs = PLACE_LOCK_WAIT_MS): Promise<boolean> {
  if (held.has(peerId)) return Promise.resolve(true);
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (!locks) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    locks
      .request(`parley-place:${peerId}`, { signal: AbortSignal.timeout(waitMs) }, () => {
        held.add(peerId);
        resolve(true);
        // Held until the page goes.
        return new Promise<never>(() => {});
      })
      .catch(() => resolve(false));
  });
}
