/**
 * Presence and rings through the one signaling client (src/call/presence-registration.ts on
 * src/call/signaling-client.ts), against the real server process, with real identities.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PresenceRegistration, type Registered } from '../../src/call/presence-registration.ts';
import { RoomSignaling } from '../../src/call/room-signaling.ts';
import { SignalingClient, type WebSocketLike } from '../../src/call/signaling-client.ts';
import { createInvite } from '../../src/identity/invite.ts';
import { generateIdentity, type Identity, signText } from '../../src/identity/keys.ts';
import { derivePairSecret, mailboxFor, newPairNonce } from '../../src/identity/mailbox.ts';
import type { Invite } from '../../src/protocol/presence.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
});

function person(identity: Identity, tags: string[]) {
  const sockets: WebSocket[] = [];
  const client = new SignalingClient({
    server: server.url,
    connect: (url) => {
      const ws = new WebSocket(url);
      sockets.push(ws);
      return ws as unknown as WebSocketLike;
    },
    backoff: { initialMs: 50 },
  });
  const presence = new PresenceRegistration(client, {
    server: server.url,
    identity: { publicKey: identity.publicKey, sign: (text) => signText(identity, text) },
    mailboxTags: tags,
  });
  const rings: Invite[] = [];
  presence.on('ring', (invite) => rings.push(invite));
  return { client, presence, sockets, rings };
}

function nextRegistered(presence: PresenceRegistration): Promise<Registered> {
  return new Promise((resolve) => {
    const off = presence.on('registered', (r) => {
      off();
      resolve(r);
    });
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('presence through the signaling client', () => {
  it('registers with a signed challenge, holds its mailbox again after its socket is cut, and rings flow both ways', async () => {
    const [ana, bo] = await Promise.all([generateIdentity(), generateIdentity()]);
    const secret = await derivePairSecret(
      { publicKey: ana.publicKey, nonce: newPairNonce() },
      { publicKey: bo.publicKey, nonce: newPairNonce() },
    );
    const [anaInbox, boInbox] = await Promise.all([
      mailboxFor(secret, ana.publicKey),
      mailboxFor(secret, bo.publicKey),
    ]);
    const a = person(ana, [anaInbox.tag]);
    const b = person(bo, [boInbox.tag]);
    const aUp = nextRegistered(a.presence);
    a.presence.start();
    b.presence.start();
    expect(await aUp).toMatchObject({ key: ana.publicKey, mailboxes: [anaInbox.id] });
    await until(() => b.presence.registered?.mailboxes.length === 1, 'Bo registered');

    // Network loss: Ana's socket dies; the client reopens it and registers again by itself.
    const again = nextRegistered(a.presence);
    a.sockets[0]?.terminate();
    expect((await again).mailboxes).toEqual([anaInbox.id]);
    expect(a.sockets).toHaveLength(2);

    const invite = await createInvite(bo, {
      mailbox: anaInbox.id,
      room: newRoom(),
      media: 'video',
      now: Date.now(),
    });
    const statuses: string[] = [];
    b.presence.on('ringStatus', (_id, status) => statuses.push(status));
    const answers: string[] = [];
    b.presence.on('ringAnswer', (callId, answer) => answers.push(`${callId} ${answer}`));
    expect(b.presence.ring(invite)).toBe(true);
    await until(() => a.rings.length === 1, 'the ring at Ana');
    expect(a.rings[0]).toEqual(invite);
    expect(statuses).toEqual(['ringing']);
    a.presence.answer(invite.callId, 'decline');
    await until(() => answers.length === 1, 'the answer at Bo');
    expect(answers).toEqual([`${invite.callId} decline`]);

    a.presence.stop();
    b.presence.stop();
  });

  it('carries a room and presence on one socket: a room error does not touch presence, leaving keeps presence', async () => {
    const ana = await generateIdentity();
    const a = person(ana, []);
    // The room first: it is offered every message before presence is.
    const room = new RoomSignaling(a.client);
    const info = await room.join(newRoom());
    expect(info.peers).toEqual([]);
    const up = nextRegistered(a.presence);
    a.presence.start();
    await up;
    expect(a.sockets).toHaveLength(1);
    // A ring with an invite for a mailbox nobody holds, signed by another key: refused as
    // bad-invite, reported to presence only.
    const presenceErrors: string[] = [];
    const roomErrors: string[] = [];
    a.presence.on('error', (code) => presenceErrors.push(code));
    room.on('error', (code) => roomErrors.push(code));
    const other = await generateIdentity();
    a.presence.ring(
      await createInvite(other, {
        mailbox: 'A'.repeat(22),
        room: newRoom(),
        media: 'audio',
        now: Date.now(),
      }),
    );
    await until(() => presenceErrors.length === 1, 'the presence error');
    expect(presenceErrors).toEqual(['bad-invite']);
    expect(roomErrors).toEqual([]);
    room.leave();
    expect(a.sockets[0]?.readyState).toBe(WebSocket.OPEN);
    expect(a.presence.registered).not.toBeNull();
    a.presence.stop();
    await until(() => a.sockets[0]?.readyState === WebSocket.CLOSED, 'the socket to close');
  });
});
