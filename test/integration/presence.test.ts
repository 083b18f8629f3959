/**
 * Presence and rings against the real server process, with real identities: the clients sign
 * with WebCrypto (src/identity), the server checks with node:crypto.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInvite, InviteChecker } from '../../src/identity/invite.ts';
import { generateIdentity, type Identity, signText } from '../../src/identity/keys.ts';
import { derivePairSecret, type Mailbox, mailboxFor, newPairNonce } from '../../src/identity/mailbox.ts';
import {
  mailboxesMessage,
  registerMessage,
  ringAnswerMessage,
  ringMessage,
  serverClock,
} from '../../src/identity/presence-client.ts';
import { parsePresenceServerMessage, presenceProofText } from '../../src/protocol/presence.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient } from './ws-client.ts';

let server: ServerHandle;
beforeAll(async () => {
  // TRUST_PROXY lets a test name the client address (X-Forwarded-For) for the per-IP limit.
  server = await startServer({ TRUST_PROXY: '1', RING_BURST: '4', RING_PER_MIN: '1' });
});
afterAll(async () => {
  await server.stop();
});

let ipCounter = 0;
/** Each client gets its own address unless told otherwise, so ring limits do not mix tests. */
function address(): string {
  ipCounter++;
  return `203.0.113.${ipCounter}`;
}

async function open(ip = address()): Promise<TestClient> {
  return TestClient.open(server.url, { headers: { 'x-forwarded-for': ip } });
}

async function challenge(client: TestClient): Promise<string> {
  client.send({ v: 1, type: 'challenge' });
  return (await client.next('challenge')).nonce as string;
}

async function proof(identity: Identity, nonce: string, origin = server.url): Promise<string> {
  return signText(identity, presenceProofText(origin, nonce, identity.publicKey));
}

/** A connection registered as `identity`, receiving rings at `mailboxes`. */
async function present(identity: Identity, mailboxes: Mailbox[] = [], ip?: string): Promise<TestClient> {
  const client = await open(ip);
  const nonce = await challenge(client);
  client.send({ v: 1, type: 'register', key: identity.publicKey, signature: await proof(identity, nonce) });
  const registered = await client.next('registered');
  expect(registered.key).toBe(identity.publicKey);
  if (mailboxes.length > 0) {
    client.send({ v: 1, type: 'mailboxes', tags: mailboxes.map((m) => m.tag) });
    expect((await client.next('registered')).mailboxes).toEqual(mailboxes.map((m) => m.id));
  }
  return client;
}

/** Two people who saved each other: each one's mailbox for the other's rings. */
async function contacts(a: Identity, b: Identity): Promise<{ aInbox: Mailbox; bInbox: Mailbox }> {
  const secret = await derivePairSecret(
    { publicKey: a.publicKey, nonce: newPairNonce() },
    { publicKey: b.publicKey, nonce: newPairNonce() },
  );
  return { aInbox: await mailboxFor(secret, a.publicKey), bInbox: await mailboxFor(secret, b.publicKey) };
}

async function invite(from: Identity, mailbox: string, now = Date.now()) {
  return createInvite(from, { mailbox, room: newRoom(), media: 'video', now });
}

describe('registering presence', () => {
  it('registers a key that signs this server’s fresh challenge, with every reply well-formed', async () => {
    const me = await generateIdentity();
    const client = await open();
    const nonce = await challenge(client);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    client.send({ v: 1, type: 'register', key: me.publicKey, signature: await proof(me, nonce) });
    const registered = await client.next('registered');
    expect(registered).toMatchObject({ type: 'registered', key: me.publicKey, mailboxes: [] });
    expect(Math.abs(registered.now - Date.now())).toBeLessThan(5000);
    for (const m of client.received) expect(parsePresenceServerMessage(JSON.stringify(m))).not.toBeNull();
    client.close();
  });

  it('refuses a key whose private half the client does not hold', async () => {
    const victim = await generateIdentity();
    const mallory = await generateIdentity();
    const client = await open();
    const nonce = await challenge(client);
    // Mallory signs the proof text naming the victim's key with her own private key.
    const signature = await signText(mallory, presenceProofText(server.url, nonce, victim.publicKey));
    client.send({ v: 1, type: 'register', key: victim.publicKey, signature });
    expect(await client.next('error')).toMatchObject({ code: 'bad-signature' });
    // Not registered: it can neither claim mailboxes nor ring.
    client.send({ v: 1, type: 'mailboxes', tags: [] });
    expect(await client.next('error')).toMatchObject({ code: 'not-registered' });
    client.close();
  });

  it('refuses a stale challenge: reused, replaced by a newer one, or never asked for', async () => {
    const me = await generateIdentity();
    const client = await open();
    const first = await challenge(client);
    const signature = await proof(me, first);
    client.send({ v: 1, type: 'register', key: me.publicKey, signature });
    await client.next('registered');
    // The same signed proof again: the challenge was single use.
    client.send({ v: 1, type: 'register', key: me.publicKey, signature });
    expect(await client.next('error')).toMatchObject({ code: 'stale-challenge' });
    // A proof over an older challenge after a newer one was issued.
    const older = await challenge(client);
    await challenge(client);
    client.send({ v: 1, type: 'register', key: me.publicKey, signature: await proof(me, older) });
    expect(await client.next('error')).toMatchObject({ code: 'bad-signature' });
    const fresh = await open();
    fresh.send({ v: 1, type: 'register', key: me.publicKey, signature });
    expect(await fresh.next('error')).toMatchObject({ code: 'stale-challenge' });
    client.close();
    fresh.close();
  });

  it('refuses a challenge issued to another connection, and a proof for another server', async () => {
    const me = await generateIdentity();
    const victim = await open();
    const attacker = await open();
    const foreign = await challenge(victim);
    await challenge(attacker);
    attacker.send({ v: 1, type: 'register', key: me.publicKey, signature: await proof(me, foreign) });
    expect(await attacker.next('error')).toMatchObject({ code: 'bad-signature' });
    // A proof made for another server's origin is worthless here (no relaying a login).
    const nonce = await challenge(attacker);
    attacker.send({
      v: 1,
      type: 'register',
      key: me.publicKey,
      signature: await proof(me, nonce, 'https://other-server.example'),
    });
    expect(await attacker.next('error')).toMatchObject({ code: 'bad-signature' });
    victim.close();
    attacker.close();
  });

  it('derives each mailbox id from the registered key: nobody can take over another’s mailbox', async () => {
    const [alice, bob, mallory] = await Promise.all([
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ]);
    const { bInbox } = await contacts(alice, bob);
    const bobClient = await present(bob, [bInbox]);
    // Mallory (who somehow learnt Bob's tag) registers it under her own key: she gets another id.
    const malloryClient = await present(mallory);
    malloryClient.send({ v: 1, type: 'mailboxes', tags: [bInbox.tag] });
    const hers = await malloryClient.next('registered');
    expect(hers.mailboxes).toHaveLength(1);
    expect(hers.mailboxes[0]).not.toBe(bInbox.id);
    // Alice's ring still reaches Bob, and only Bob.
    const aliceClient = await present(alice);
    const inv = await invite(alice, bInbox.id);
    aliceClient.send({ v: 1, type: 'ring', invite: inv });
    expect((await bobClient.next('ring')).invite).toEqual(inv);
    expect(await aliceClient.next('ring-status')).toMatchObject({ callId: inv.callId, status: 'ringing' });
    expect((await malloryClient.drain()).filter((m) => m.type === 'ring')).toEqual([]);
    for (const c of [bobClient, malloryClient, aliceClient]) c.close();
  });
});

describe('watching contacts', () => {
  it('tells a watcher which contact mailboxes are online, and when they come and go', async () => {
    const ana = await generateIdentity();
    const bo = await generateIdentity();
    const { aInbox, bInbox } = await contacts(ana, bo);
    const anaClient = await present(ana, [aInbox]);
    // Ana watches where she would ring Bo (his inbox for her): offline for now.
    anaClient.send({ v: 1, type: 'watch', mailboxes: [bInbox.id] });
    expect(await anaClient.next('watching')).toMatchObject({ online: [] });
    const boClient = await present(bo, [bInbox]);
    expect(await anaClient.next('presence')).toMatchObject({ mailbox: bInbox.id, online: true });
    // Bo watches Ana, who is online already.
    boClient.send({ v: 1, type: 'watch', mailboxes: [aInbox.id] });
    expect(await boClient.next('watching')).toMatchObject({ online: [aInbox.id] });
    // Bo goes offline by emptying his mailboxes, then comes back, then his socket goes.
    boClient.send({ v: 1, type: 'mailboxes', tags: [] });
    expect(await anaClient.next('presence')).toMatchObject({ mailbox: bInbox.id, online: false });
    boClient.send({ v: 1, type: 'mailboxes', tags: [bInbox.tag] });
    expect(await anaClient.next('presence')).toMatchObject({ mailbox: bInbox.id, online: true });
    boClient.close();
    expect(await anaClient.next('presence')).toMatchObject({ mailbox: bInbox.id, online: false });
    // Watching needs a registered key.
    const stranger = await open();
    stranger.send({ v: 1, type: 'watch', mailboxes: [aInbox.id] });
    expect(await stranger.next('error')).toMatchObject({ code: 'not-registered' });
    for (const m of anaClient.received) expect(parsePresenceServerMessage(JSON.stringify(m))).not.toBeNull();
    anaClient.close();
    stranger.close();
  });

  it('tells every connection watching one mailbox, also after one of them stops watching or goes', async () => {
    const ana = await generateIdentity();
    const bo = await generateIdentity();
    const { aInbox, bInbox } = await contacts(ana, bo);
    // Ana with two connections at once (a reconnect overlapping the old socket), both watching Bo.
    const first = await present(ana, [aInbox]);
    const second = await present(ana, [aInbox]);
    for (const c of [first, second]) {
      c.send({ v: 1, type: 'watch', mailboxes: [bInbox.id] });
      expect(await c.next('watching')).toMatchObject({ online: [] });
    }
    const boClient = await present(bo, [bInbox]);
    for (const c of [first, second]) {
      expect(await c.next('presence')).toMatchObject({ mailbox: bInbox.id, online: true });
    }
    // The first stops watching him: only the second hears him go and come back.
    first.send({ v: 1, type: 'watch', mailboxes: [] });
    expect(await first.next('watching')).toMatchObject({ online: [] });
    boClient.send({ v: 1, type: 'mailboxes', tags: [] });
    expect(await second.next('presence')).toMatchObject({ mailbox: bInbox.id, online: false });
    // Watching again, and the second one's socket goes: the first alone is told.
    first.send({ v: 1, type: 'watch', mailboxes: [bInbox.id] });
    expect(await first.next('watching')).toMatchObject({ online: [] });
    second.close();
    boClient.send({ v: 1, type: 'mailboxes', tags: [bInbox.tag] });
    expect(await first.next('presence')).toMatchObject({ mailbox: bInbox.id, online: true });
    expect(first.received.filter((m) => m.type === 'presence')).toHaveLength(2);
    first.close();
    boClient.close();
  });
});

describe('ringing', () => {
  it('delivers a contact’s ring to the mailbox, which accepts it; the caller hears the answer', async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const { aInbox, bInbox } = await contacts(alice, bob);
    // Both sides as the service worker would do it, with the client helpers.
    const connect = async (me: Identity, inbox: Mailbox) => {
      const client = await open();
      client.send({ v: 1, type: 'challenge' });
      client.send(await registerMessage(me, `${server.url}/`, (await client.next('challenge')).nonce));
      const registered = await client.next('registered');
      client.send(mailboxesMessage([inbox]));
      expect((await client.next('registered')).mailboxes).toEqual([inbox.id]);
      return { client, now: serverClock(registered.now) };
    };
    const bobSide = await connect(bob, bInbox);
    const aliceSide = await connect(alice, aInbox);
    const ringOut = await ringMessage(alice, {
      mailbox: bInbox.id,
      room: newRoom(),
      media: 'audio',
      now: aliceSide.now(),
    });
    aliceSide.client.send(ringOut);
    const ring = await bobSide.client.next('ring');
    // Bob's service worker checks the invite as it would before showing anything.
    const checker = new InviteChecker();
    const check = await checker.check(ring.invite, {
      mailboxFor: (key) => (key === alice.publicKey ? bInbox.id : undefined),
      now: bobSide.now(),
    });
    expect(check).toEqual({ ok: true, invite: ringOut.invite });
    expect(await aliceSide.client.next('ring-status')).toMatchObject({ status: 'ringing' });
    bobSide.client.send(ringAnswerMessage(ringOut.invite.callId, 'accept'));
    expect(await aliceSide.client.next('ring-answer')).toMatchObject({
      callId: ringOut.invite.callId,
      answer: 'accept',
    });
    for (const m of [...aliceSide.client.received, ...bobSide.client.received]) {
      expect(parsePresenceServerMessage(JSON.stringify(m))).not.toBeNull();
    }
    aliceSide.client.close();
    bobSide.client.close();
  });

  it('tells the caller decline and busy, the callee a cancel, and nobody else may answer', async () => {
    const [alice, bob, carol] = await Promise.all([
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ]);
    const { bInbox } = await contacts(alice, bob);
    const bobClient = await present(bob, [bInbox]);
    const aliceClient = await present(alice);
    const carolClient = await present(carol);
    for (const answer of ['decline', 'busy'] as const) {
      const inv = await invite(alice, bInbox.id);
      aliceClient.send({ v: 1, type: 'ring', invite: inv });
      await bobClient.next('ring');
      // Carol saw nothing and cannot end someone else's ring; nor can the caller "accept" it.
      carolClient.send({ v: 1, type: 'ring-answer', callId: inv.callId, answer: 'accept' });
      expect(await carolClient.next('error')).toMatchObject({ code: 'unknown-ring' });
      aliceClient.send({ v: 1, type: 'ring-answer', callId: inv.callId, answer: 'accept' });
      expect(await aliceClient.next('error')).toMatchObject({ code: 'unknown-ring' });
      bobClient.send({ v: 1, type: 'ring-answer', callId: inv.callId, answer });
      expect(await aliceClient.next('ring-answer')).toMatchObject({ callId: inv.callId, answer });
    }
    const inv = await invite(alice, bInbox.id);
    aliceClient.send({ v: 1, type: 'ring', invite: inv });
    await bobClient.next('ring');
    aliceClient.send({ v: 1, type: 'ring-answer', callId: inv.callId, answer: 'cancel' });
    expect(await bobClient.next('ring-answer')).toMatchObject({ callId: inv.callId, answer: 'cancel' });
    for (const c of [aliceClient, bobClient, carolClient]) c.close();
  });

  it('says offline for a mailbox nobody holds, and no-answer when the callee’s socket goes', async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const { bInbox } = await contacts(alice, bob);
    const aliceClient = await present(alice);
    const offline = await invite(alice, bInbox.id);
    aliceClient.send({ v: 1, type: 'ring', invite: offline });
    expect(await aliceClient.next('ring-status')).toMatchObject({
      callId: offline.callId,
      status: 'offline',
    });
    const bobClient = await present(bob, [bInbox]);
    const inv = await invite(alice, bInbox.id);
    aliceClient.send({ v: 1, type: 'ring', invite: inv });
    await bobClient.next('ring');
    bobClient.close();
    expect(await aliceClient.next('ring-answer')).toMatchObject({ callId: inv.callId, answer: 'no-answer' });
    aliceClient.close();
  });

  it('drops forged, altered, expired and replayed rings; the callee sees only the genuine one', async () => {
    const [alice, bob, mallory] = await Promise.all([
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ]);
    const { bInbox } = await contacts(alice, bob);
    const bobClient = await present(bob, [bInbox]);
    const aliceClient = await present(alice);
    const malloryClient = await present(mallory);

    // Mallory rings Bob claiming to be Alice (her own signature), and with Alice's real invite.
    const forged = { ...(await invite(mallory, bInbox.id)), caller: alice.publicKey };
    malloryClient.send({ v: 1, type: 'ring', invite: forged });
    expect(await malloryClient.next('error')).toMatchObject({ code: 'bad-invite' });
    const genuine = await invite(alice, bInbox.id);
    malloryClient.send({ v: 1, type: 'ring', invite: genuine });
    expect(await malloryClient.next('error')).toMatchObject({ code: 'bad-invite' });

    // Alice's own connection: an altered room, an expired invite, then the genuine one twice.
    aliceClient.send({ v: 1, type: 'ring', invite: { ...genuine, room: newRoom() } });
    expect(await aliceClient.next('error')).toMatchObject({ code: 'bad-invite' });
    const expired = await invite(alice, bInbox.id, Date.now() - 61_000);
    aliceClient.send({ v: 1, type: 'ring', invite: expired });
    expect(await aliceClient.next('error')).toMatchObject({ code: 'bad-invite' });
    aliceClient.send({ v: 1, type: 'ring', invite: genuine });
    expect(await aliceClient.next('ring-status')).toMatchObject({ status: 'ringing' });
    aliceClient.send({ v: 1, type: 'ring', invite: genuine });
    expect(await aliceClient.next('error')).toMatchObject({
      code: 'bad-invite',
      message: expect.stringMatching(/already used/),
    });

    const rings = (await bobClient.drain()).filter((m) => m.type === 'ring');
    expect(rings.map((r) => r.invite)).toEqual([genuine]);
    for (const c of [aliceClient, bobClient, malloryClient]) c.close();
  });
});

describe('abuse', () => {
  it('limits a ring flood per key (across connections) and per address (across keys)', async () => {
    const [alice, bob, carol] = await Promise.all([
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ]);
    const { bInbox } = await contacts(alice, bob);
    const bobClient = await present(bob, [bInbox]);
    const sharedIp = address();
    const aliceClient = await present(alice, [], sharedIp);
    const statuses: string[] = [];
    // RING_BURST=4: four rings go through, the rest are refused.
    for (let i = 0; i < 7; i++) {
      aliceClient.send({ v: 1, type: 'ring', invite: await invite(alice, bInbox.id) });
      const reply = await aliceClient.next();
      statuses.push(reply.type === 'error' ? reply.code : reply.status);
    }
    expect(statuses).toEqual([
      'ringing',
      'ringing',
      'ringing',
      'ringing',
      'rate-limited',
      'rate-limited',
      'rate-limited',
    ]);
    // The same key from a new connection at another address: still limited.
    const aliceElsewhere = await present(alice);
    aliceElsewhere.send({ v: 1, type: 'ring', invite: await invite(alice, bInbox.id) });
    expect(await aliceElsewhere.next('error')).toMatchObject({ code: 'rate-limited' });
    // Another key from the flooding address: the address is out of rings too.
    const carolSameIp = await present(carol, [], sharedIp);
    carolSameIp.send({ v: 1, type: 'ring', invite: await invite(carol, bInbox.id) });
    expect(await carolSameIp.next('error')).toMatchObject({ code: 'rate-limited' });
    // Bob was rung exactly four times.
    expect((await bobClient.drain()).filter((m) => m.type === 'ring')).toHaveLength(4);
    for (const c of [aliceClient, bobClient, aliceElsewhere, carolSameIp]) c.close();
  });

  it('closes only the socket that sends a malformed presence or ring message', async () => {
    const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
    const { bInbox } = await contacts(alice, bob);
    const bobClient = await present(bob, [bInbox]);
    const room = newRoom();
    const { client: a, joined: ja } = await TestClient.joined(server.url, room);
    const { client: b } = await TestClient.joined(server.url, room);

    const bad = [
      { v: 1, type: 'ring', invite: { caller: 'x' } },
      { v: 1, type: 'register', key: alice.publicKey },
      { v: 1, type: 'mailboxes', tags: ['not a tag'] },
      { v: 1, type: 'ring-answer', callId: 'AAAAAAAAAAAAAAAAAAAAAA', answer: 'maybe' },
      { v: 1, type: 'challenge', extra: true },
    ];
    for (const message of bad) {
      const rogue = await present(alice);
      rogue.send(message);
      expect(await rogue.next('error')).toMatchObject({ code: 'bad-message' });
      expect((await rogue.closed).code).toBe(1008);
    }
    // Everyone else carries on: a ring still reaches Bob, the room still relays.
    const aliceClient = await present(alice);
    const inv = await invite(alice, bInbox.id);
    aliceClient.send({ v: 1, type: 'ring', invite: inv });
    expect((await bobClient.next('ring')).invite.callId).toBe(inv.callId);
    b.send({ v: 1, type: 'signal', to: ja.peerId, data: { still: 'relaying' } });
    expect((await a.next('signal')).data).toEqual({ still: 'relaying' });
    for (const c of [bobClient, a, b, aliceClient]) c.close();
  });
});
