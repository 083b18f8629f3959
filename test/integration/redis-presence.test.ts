/**
 * Presence and rings across server processes on one real Redis (REDIS_URL): a person
 * registered on one node is rung from another, goes offline when the socket closes or the
 * node dies, contacts watching from another node learn when they come and go, and the ring
 * limits hold for a key whatever node it rings from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvite } from '../../src/identity/invite.ts';
import { generateIdentity, type Identity, signText } from '../../src/identity/keys.ts';
import { derivePairSecret, type Mailbox, mailboxFor, newPairNonce } from '../../src/identity/mailbox.ts';
import { presenceProofText } from '../../src/protocol/presence.ts';
import { type RedisHandle, startRedis } from '../helpers/redis-process.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient } from './ws-client.ts';

const RING_BURST = 4;
let redis: RedisHandle;
let env: Record<string, string>;
let a: ServerHandle;
let b: ServerHandle;

beforeAll(async () => {
  redis = await startRedis();
  // TRUST_PROXY lets each test client name its own address, so per-IP ring limits do not mix.
  env = { REDIS_URL: redis.url, TRUST_PROXY: '1', RING_BURST: String(RING_BURST), RING_PER_MIN: '1' };
  [a, b] = await Promise.all([startServer(env), startServer(env)]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

let ipCounter = 0;

/** A connection to `node` registered as `identity`, receiving rings at `mailboxes`. */
async function present(
  node: ServerHandle,
  identity: Identity,
  mailboxes: Mailbox[] = [],
): Promise<TestClient> {
  ipCounter++;
  const client = await TestClient.open(node.url, {
    headers: { 'x-forwarded-for': `198.51.100.${ipCounter}` },
  });
  client.send({ v: 1, type: 'challenge' });
  const nonce = (await client.next('challenge')).nonce as string;
  const signature = await signText(identity, presenceProofText(node.url, nonce, identity.publicKey));
  client.send({ v: 1, type: 'register', key: identity.publicKey, signature });
  await client.next('registered');
  if (mailboxes.length > 0) {
    client.send({ v: 1, type: 'mailboxes', tags: mailboxes.map((m) => m.tag) });
    expect((await client.next('registered')).mailboxes).toEqual(mailboxes.map((m) => m.id));
  }
  return client;
}

/** Bob's mailbox for Alice's rings. */
async function inboxOf(alice: Identity, bob: Identity): Promise<Mailbox> {
  const secret = await derivePairSecret(
    { publicKey: alice.publicKey, nonce: newPairNonce() },
    { publicKey: bob.publicKey, nonce: newPairNonce() },
  );
  return mailboxFor(secret, bob.publicKey);
}

async function ring(caller: TestClient, from: Identity, mailbox: string) {
  const invite = await createInvite(from, { mailbox, room: newRoom(), media: 'video', now: Date.now() });
  caller.send({ v: 1, type: 'ring', invite });
  return invite;
}

describe('presence and rings on several nodes', () => {
  it('rings a person registered on node A from node B: ring, answer and cancel cross nodes', async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const bInbox = await inboxOf(alice, bob);
    const bobOnA = await present(a, bob, [bInbox]);
    const aliceOnB = await present(b, alice);

    const first = await ring(aliceOnB, alice, bInbox.id);
    expect((await bobOnA.next('ring')).invite).toEqual(first);
    expect(await aliceOnB.next('ring-status')).toMatchObject({ callId: first.callId, status: 'ringing' });
    bobOnA.send({ v: 1, type: 'ring-answer', callId: first.callId, answer: 'accept' });
    expect(await aliceOnB.next('ring-answer')).toMatchObject({ callId: first.callId, answer: 'accept' });

    const second = await ring(aliceOnB, alice, bInbox.id);
    await bobOnA.next('ring');
    await aliceOnB.next('ring-status');
    aliceOnB.send({ v: 1, type: 'ring-answer', callId: second.callId, answer: 'cancel' });
    expect(await bobOnA.next('ring-answer')).toMatchObject({ callId: second.callId, answer: 'cancel' });
    // An answer to a ring that is over is refused on the callee's node too.
    bobOnA.send({ v: 1, type: 'ring-answer', callId: second.callId, answer: 'accept' });
    expect(await bobOnA.next('error')).toMatchObject({ code: 'unknown-ring' });

    // A replayed invite is refused on the other node as well.
    const aliceOnA = await present(a, alice);
    aliceOnA.send({ v: 1, type: 'ring', invite: first });
    expect(await aliceOnA.next('error')).toMatchObject({ code: 'bad-invite' });
    for (const c of [bobOnA, aliceOnB, aliceOnA]) c.close();
  });

  it('a closed socket unregisters: the caller on the other node hears no-answer, then offline', async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const bInbox = await inboxOf(alice, bob);
    const bobOnA = await present(a, bob, [bInbox]);
    const aliceOnB = await present(b, alice);
    const inv = await ring(aliceOnB, alice, bInbox.id);
    await bobOnA.next('ring');
    bobOnA.close();
    await bobOnA.closed;
    expect(await aliceOnB.next('ring-answer')).toMatchObject({ callId: inv.callId, answer: 'no-answer' });
    const again = await ring(aliceOnB, alice, bInbox.id);
    expect(await aliceOnB.next('ring-status')).toMatchObject({ callId: again.callId, status: 'offline' });
    aliceOnB.close();
  });

  it('a contact watching from node A learns when the other registers and leaves on node B', async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const bInbox = await inboxOf(alice, bob);
    const aliceOnA = await present(a, alice);
    aliceOnA.send({ v: 1, type: 'watch', mailboxes: [bInbox.id] });
    expect(await aliceOnA.next('watching')).toMatchObject({ online: [] });

    const bobOnB = await present(b, bob, [bInbox]);
    expect(await aliceOnA.next('presence')).toMatchObject({ mailbox: bInbox.id, online: true });
    // Watching again from A, with Bob still on B: the answer counts him online.
    aliceOnA.send({ v: 1, type: 'watch', mailboxes: [bInbox.id] });
    expect(await aliceOnA.next('watching')).toMatchObject({ online: [bInbox.id] });

    bobOnB.close();
    await bobOnB.closed;
    expect(await aliceOnA.next('presence')).toMatchObject({ mailbox: bInbox.id, online: false });
    aliceOnA.send({ v: 1, type: 'watch', mailboxes: [bInbox.id] });
    expect(await aliceOnA.next('watching')).toMatchObject({ online: [] });
    aliceOnA.close();
  });

  it(`the ring limit holds for a key across nodes (burst ${RING_BURST} in all, not per node)`, async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const bInbox = await inboxOf(alice, bob);
    const onA = await present(a, alice);
    const onB = await present(b, alice);
    for (let i = 0; i < RING_BURST; i++) {
      const from = i % 2 === 0 ? onA : onB;
      const inv = await ring(from, alice, bInbox.id);
      expect(await from.next('ring-status')).toMatchObject({ callId: inv.callId, status: 'offline' });
    }
    for (const from of [onA, onB]) {
      await ring(from, alice, bInbox.id);
      expect(await from.next('error')).toMatchObject({ code: 'rate-limited' });
    }
    for (const c of [onA, onB]) c.close();
  });

  it('a node that dies (SIGKILL) drops its registrations within its heartbeat bound; watchers learn it', async () => {
    const c = await startServer(env);
    const bob = await generateIdentity();
    const caller = await generateIdentity();
    const bInbox = await inboxOf(caller, bob);
    // A contact of Bob's watching from node A.
    const watcher = await present(a, caller);
    watcher.send({ v: 1, type: 'watch', mailboxes: [bInbox.id] });
    await watcher.next('watching');
    const bobOnC = await present(c, bob, [bInbox]);
    expect(await watcher.next('presence')).toMatchObject({ mailbox: bInbox.id, online: true });
    const callerOnB = await present(b, caller);
    const inv = await ring(callerOnB, caller, bInbox.id);
    await bobOnC.next('ring');
    await callerOnB.next('ring-status');
    callerOnB.close();

    await c.stop('SIGKILL');
    const killedAt = Date.now();
    // Each try rings from a new person (own key and address), so the ring limit never bites.
    let offlineAfter = -1;
    while (offlineAfter < 0 && Date.now() - killedAt < 30_000) {
      const someone = await generateIdentity();
      const client = await present(b, someone);
      const probe = await ring(client, someone, bInbox.id);
      const status = await client.next('ring-status');
      client.close();
      expect(status.callId).toBe(probe.callId);
      if (status.status === 'offline') offlineAfter = Date.now() - killedAt;
      else await new Promise((r) => setTimeout(r, 500));
    }
    void inv;
    // NODE_DEAD_MS (10 s) after the last heartbeat (every 2 s), plus slack for a loaded machine.
    expect(offlineAfter).toBeGreaterThanOrEqual(0);
    expect(offlineAfter).toBeLessThan(16_000);
    // The reap that deletes the dead node's registrations (any node, every 6 s) tells the
    // watcher on A that Bob went offline.
    expect(await watcher.next('presence', 30_000)).toMatchObject({ mailbox: bInbox.id, online: false });
    watcher.close();
    // Starting a third server and waiting out the bound: more than the default 30 s when loaded.
  }, 90_000);
});
