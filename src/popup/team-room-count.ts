/**
 * How many people are in each team room now, asked of its signaling server over one
 * short-lived socket per server: `count-nonce`, then a `count` per room with a proof of the
 * room's key over that nonce (docs/protocol.md, Team rooms). The server learns which rooms
 * this popup asks about, never a name.
 */
import * as v from 'valibot';
import { signalingSocketUrl } from '../protocol/link.ts';
import { CountNonceReplySchema, CountReplySchema } from '../protocol/signaling.ts';
import { countProof, teamRoomKey } from '../protocol/team-room.ts';
import type { TeamRoom } from './team-room-store.ts';

const TIMEOUT_MS = 5000;

/** People per room id; a room whose server did not answer is missing. */
export async function countPeople(rooms: readonly TeamRoom[]): Promise<Map<string, number>> {
  const byServer = new Map<string, TeamRoom[]>();
  for (const r of rooms) byServer.set(r.server, [...(byServer.get(r.server) ?? []), r]);
  const counts = new Map<string, number>();
  await Promise.all(
    [...byServer].map(([server, list]) =>
      askServer(server, list)
        .then((found) => {
          for (const [room, people] of found) counts.set(room, people);
        })
        .catch(() => {}),
    ),
  );
  return counts;
}

function askServer(server: string, rooms: readonly TeamRoom[]): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const found = new Map<string, number>();
    const ws = new WebSocket(signalingSocketUrl(server));
    const finish = (error?: Error) => {
      clearTimeout(timer);
      ws.close();
      if (error) reject(error);
      else resolve(found);
    };
    const timer = setTimeout(() => finish(found.size > 0 ? undefined : new Error('no answer')), TIMEOUT_MS);
    ws.onerror = () => finish(new Error('unreachable'));
    ws.onopen = () => ws.send(JSON.stringify({ v: 1, type: 'count-nonce' }));
    ws.onmessage = async (event) => {
      let raw: unknown;
      try {
        raw = JSON.parse(String(event.data));
      } catch {
        return;
      }
      const nonce = v.safeParse(CountNonceReplySchema, raw);
      if (nonce.success) {
        for (const r of rooms) {
          const proof = await countProof(await teamRoomKey(r.secret), nonce.output.nonce, r.room);
          ws.send(JSON.stringify({ v: 1, type: 'count', room: r.room, proof }));
        }
        return;
      }
      const count = v.safeParse(CountReplySchema, raw);
      if (count.success) {
        found.set(count.output.room, count.output.people);
        if (rooms.every((r) => found.has(r.room))) finish();
      }
    };
  });
}

export function peopleText(people: number | undefined): string {
  if (people === undefined) return 'Cannot reach the server';
  if (people === 0) return 'Nobody in the call';
  return `${people} in the call`;
}
