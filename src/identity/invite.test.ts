import { describe, expect, it } from 'vitest';
import type { Invite } from '../protocol/presence.ts';
import { createInvite, InviteChecker } from './invite.ts';
import { identityFromSeed } from './keys.ts';
import { ALICE_KEY, ALICE_SEED, BOB_KEY, BOB_SEED, CALL_ID, ROOM } from './test-vectors.ts';

/** Bob's mailbox for Alice's rings (mailbox.test.ts derives it from the pair secret). */
const BOB_MAILBOX_FOR_ALICE = 'gcjMqEYiDsjeTThx_JS2hw';
/** Alice's mailbox for Bob's rings. */
const ALICE_MAILBOX_FOR_BOB = '8NbWisLSZGtbmps62pRyig';
const NOW = 1_767_225_600_000;

/** Bob's view: Alice is his only contact. */
const bobsContacts = {
  mailboxFor: (key: string) => (key === ALICE_KEY ? BOB_MAILBOX_FOR_ALICE : undefined),
};

async function aliceInvite(overrides: Partial<Parameters<typeof createInvite>[1]> = {}): Promise<Invite> {
  const alice = await identityFromSeed(ALICE_SEED);
  return createInvite(alice, {
    mailbox: BOB_MAILBOX_FOR_ALICE,
    room: ROOM,
    media: 'video',
    now: NOW,
    callId: CALL_ID,
    ...overrides,
  });
}

describe('ring invites', () => {
  it('are signed over a fixed text: a known invite has a known signature', async () => {
    const invite = await aliceInvite();
    expect(invite).toEqual({
      caller: ALICE_KEY,
      mailbox: BOB_MAILBOX_FOR_ALICE,
      callId: CALL_ID,
      room: ROOM,
      media: 'video',
      expires: NOW + 60_000,
      sig: '0NLAXPikhzLp3ySSW37W1fg1dDKR3p8dCyuJAw_WlKMmQ_CpZnGADd0Pdub6cEqqO0AUsx9_o80KH6ab4tuBAw',
    });
  });

  it('are accepted once from a contact, for the right mailbox, before they expire', async () => {
    const checker = new InviteChecker();
    const invite = await aliceInvite();
    expect(await checker.check(invite, { ...bobsContacts, now: NOW + 1000 })).toEqual({ ok: true, invite });
  });

  it('are dropped when replayed, even after a restart that kept the seen call ids', async () => {
    const checker = new InviteChecker();
    const invite = await aliceInvite();
    expect((await checker.check(invite, { ...bobsContacts, now: NOW })).ok).toBe(true);
    expect(await checker.check(invite, { ...bobsContacts, now: NOW + 5000 })).toEqual({
      ok: false,
      reason: 'replayed',
    });
    const restarted = new InviteChecker(JSON.parse(JSON.stringify(checker.seenCallIds())));
    expect(await restarted.check(invite, { ...bobsContacts, now: NOW + 6000 })).toEqual({
      ok: false,
      reason: 'replayed',
    });
    expect(checker.dropped.replayed).toBe(1);
  });

  it('are dropped when the signature is bad (forged or altered in any field)', async () => {
    const checker = new InviteChecker();
    const invite = await aliceInvite();
    const forgedByBob = await createInvite(await identityFromSeed(BOB_SEED), {
      mailbox: BOB_MAILBOX_FOR_ALICE,
      room: ROOM,
      media: 'video',
      now: NOW,
    });
    const cases: Invite[] = [
      { ...forgedByBob, caller: ALICE_KEY },
      { ...invite, room: 'zzzzzzzzzzzzzzzzzzzzzz' },
      { ...invite, media: 'audio' },
      { ...invite, expires: invite.expires - 1 },
      { ...invite, callId: 'AAECAwQFBgcICQoLDA0OEA' },
    ];
    for (const forged of cases) {
      expect(await checker.check(forged, { ...bobsContacts, now: NOW })).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
    }
    expect(checker.dropped['bad-signature']).toBe(cases.length);
    // The forgeries did not burn the call id: the genuine invite still goes through.
    expect((await checker.check(invite, { ...bobsContacts, now: NOW })).ok).toBe(true);
  });

  it('are dropped when meant for another mailbox (even one of ours)', async () => {
    const checker = new InviteChecker();
    const invite = await aliceInvite({ mailbox: ALICE_MAILBOX_FOR_BOB });
    expect(await checker.check(invite, { ...bobsContacts, now: NOW })).toEqual({
      ok: false,
      reason: 'wrong-mailbox',
    });
  });

  it('are dropped when expired, or valid for more than a minute', async () => {
    const checker = new InviteChecker();
    const invite = await aliceInvite();
    expect(await checker.check(invite, { ...bobsContacts, now: NOW + 60_000 })).toEqual({
      ok: false,
      reason: 'expired',
    });
    // A caller whose invite claims 10 minutes (signed, but over the limit) is refused.
    const alice = await identityFromSeed(ALICE_SEED);
    const long = await createInvite(alice, {
      mailbox: BOB_MAILBOX_FOR_ALICE,
      room: ROOM,
      media: 'video',
      now: NOW,
    });
    expect(await checker.check(long, { ...bobsContacts, now: NOW - 600_000 })).toEqual({
      ok: false,
      reason: 'too-far-ahead',
    });
    await expect(aliceInvite({ lifetimeMs: 61_000 })).rejects.toThrow('between 1 and 60000 ms');
  });

  it('are dropped from a key that is not a contact, and when malformed', async () => {
    const checker = new InviteChecker();
    const bob = await identityFromSeed(BOB_SEED);
    const stranger = await createInvite(bob, {
      mailbox: BOB_MAILBOX_FOR_ALICE,
      room: ROOM,
      media: 'audio',
      now: NOW,
    });
    expect(stranger.caller).toBe(BOB_KEY);
    expect(await checker.check(stranger, { ...bobsContacts, now: NOW })).toEqual({
      ok: false,
      reason: 'unknown-caller',
    });
    const invite = await aliceInvite();
    for (const junk of [
      null,
      'invite',
      { ...invite, extra: 1 },
      { ...invite, expires: '1' },
      { ...invite, sig: '' },
    ]) {
      expect(await checker.check(junk, { ...bobsContacts, now: NOW })).toEqual({
        ok: false,
        reason: 'malformed',
      });
    }
    expect(checker.dropped).toMatchObject({ 'unknown-caller': 1, malformed: 5 });
  });

  it('are refused as key-changed when a known mailbox is rung by another key (validly signed)', async () => {
    const checker = new InviteChecker();
    // Bob's mailbox for Alice, rung by a new key (Alice after a reinstall, or someone else).
    const newKey = await identityFromSeed(BOB_SEED);
    const invite = await createInvite(newKey, {
      mailbox: BOB_MAILBOX_FOR_ALICE,
      room: ROOM,
      media: 'video',
      now: NOW,
      callId: CALL_ID,
    });
    const context = {
      ...bobsContacts,
      contactForMailbox: (mailbox: string) => (mailbox === BOB_MAILBOX_FOR_ALICE ? ALICE_KEY : undefined),
      now: NOW + 1000,
    };
    expect(await checker.check(invite, context)).toEqual({
      ok: false,
      reason: 'key-changed',
      contactKey: ALICE_KEY,
    });
    // Its replay, a forgery and an expired one stay silent.
    expect(await checker.check(invite, context)).toEqual({ ok: false, reason: 'replayed' });
    expect(await checker.check({ ...invite, callId: 'AAECAwQFBgcICQoLDA0OEA' }, context)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(await checker.check(invite, { ...context, now: NOW + 61_000 })).toEqual({
      ok: false,
      reason: 'expired',
    });
    // Another mailbox (not ours) from that key: a stranger, silently.
    const elsewhere = await createInvite(newKey, {
      mailbox: ALICE_MAILBOX_FOR_BOB,
      room: ROOM,
      media: 'video',
      now: NOW,
    });
    expect(await checker.check(elsewhere, context)).toEqual({ ok: false, reason: 'unknown-caller' });
    expect(checker.dropped).toMatchObject({ 'key-changed': 1, replayed: 1, 'bad-signature': 1, expired: 1 });
  });
});
