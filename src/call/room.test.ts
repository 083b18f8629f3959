/** Membership, the people we wait for, capacity, and the call state that follows from them. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RemoteParticipant, RemotePeer } from './remote-participant.ts';
import { Room } from './room.ts';

/** Just what the room reads of a participant. */
function person(id: string, connection: RemotePeer['connection']): RemoteParticipant {
  return { id, view: { connection } } as unknown as RemoteParticipant;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Room', () => {
  it('the call state follows everyone: connected if anyone is, else reconnecting, else connecting', () => {
    const room = new Room(5);
    expect(room.state()).toBe('waiting');
    const ana = person('A', 'connecting');
    room.add(ana);
    expect(room.state()).toBe('connecting');
    room.add(person('B', 'reconnecting'));
    expect(room.state()).toBe('reconnecting');
    room.add(person('C', 'connected'));
    expect(room.state()).toBe('connected');
    expect(room.size).toBe(3);
  });

  it('someone announced is waited for; we offer only if their offer has not come in time', async () => {
    vi.useFakeTimers();
    const room = new Room(5);
    const due: string[] = [];
    room.expect('A', 1000, (id) => due.push(id));
    room.expect('A', 1000, (id) => due.push(id));
    room.expect('B', 1000, (id) => due.push(id));
    expect(room.state()).toBe('connecting');
    room.add(person('B', 'connecting'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(due).toEqual(['A']);
    room.expect('C', 1000, (id) => due.push(id));
    room.arrived('C'); // they left before anything happened
    await vi.advanceTimersByTimeAsync(1000);
    expect(due).toEqual(['A']);
  });

  it('is full at its capacity; a person keeps their place under a new signaling id', () => {
    const room = new Room(2);
    const ana = person('A', 'connected');
    room.add(ana);
    room.add(person('B', 'connected'));
    expect(room.isFull).toBe(true);
    room.move(ana, 'A2');
    expect(room.get('A')).toBeUndefined();
    expect(room.get('A2')).toBe(ana);
    expect(ana.id).toBe('A2');
    room.remove(ana);
    expect(room.isFull).toBe(false);
  });
});
