/**
 * The team rooms this browser keeps, in chrome.storage.local (`teamRooms`): a name, the
 * signaling server, and the room id and secret of the link (see protocol/team-room.ts).
 * Nothing here expires: the link is the same every time. Stored values are checked on the way
 * in (storage is written by this extension only, but a bad entry must not break the popup).
 */
import * as v from 'valibot';
import { formatShareLink, normalizeServerUrl } from '../protocol/link.ts';
import { ROOM_ID_PATTERN } from '../protocol/signaling.ts';
import { isTeamRoomId, newTeamRoomLink } from '../protocol/team-room.ts';

const KEY = 'teamRooms';
export const NAME_MAX = 40;

const TeamRoomSchema = v.object({
  room: v.pipe(v.string(), v.regex(ROOM_ID_PATTERN)),
  secret: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{22,64}$/)),
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(NAME_MAX)),
  server: v.string(),
  createdAt: v.number(),
});
export type TeamRoom = v.InferOutput<typeof TeamRoomSchema>;

export function teamRoomLink(room: TeamRoom): string {
  return formatShareLink({ server: room.server, room: room.room, secret: room.secret });
}

export async function loadTeamRooms(): Promise<TeamRoom[]> {
  const stored = (await chrome.storage.local.get(KEY))[KEY];
  if (!Array.isArray(stored)) return [];
  const rooms: TeamRoom[] = [];
  for (const entry of stored) {
    const parsed = v.safeParse(TeamRoomSchema, entry);
    if (parsed.success && isTeamRoomId(parsed.output.room)) rooms.push(parsed.output);
  }
  return rooms;
}

async function save(rooms: TeamRoom[]): Promise<void> {
  await chrome.storage.local.set({ [KEY]: rooms });
}

/** A clean name, or an error sentence. */
export function checkName(text: string): { name: string } | { error: string } {
  const name = text.trim().replace(/\s+/g, ' ');
  if (name === '') return { error: 'Give the team room a name, like "Design team".' };
  if (name.length > NAME_MAX) return { error: `A team room name has at most ${NAME_MAX} characters.` };
  return { name };
}

export async function addTeamRoom(name: string, server: string): Promise<TeamRoom> {
  const { room, secret } = await newTeamRoomLink();
  const entry: TeamRoom = { room, secret, name, server: normalizeServerUrl(server), createdAt: Date.now() };
  await save([...(await loadTeamRooms()), entry]);
  return entry;
}

export async function renameTeamRoom(room: string, name: string): Promise<void> {
  await save((await loadTeamRooms()).map((r) => (r.room === room ? { ...r, name } : r)));
}

export async function removeTeamRoom(room: string): Promise<void> {
  await save((await loadTeamRooms()).filter((r) => r.room !== room));
}
