/** Identity-signed descriptions (calls between contacts), with fixed vectors. */
import { describe, expect, it } from 'vitest';
import { callDescriptionText, signCallDescription } from '../identity/binding.ts';
import { fromHex } from '../identity/bytes.ts';
import { type Identity, identityFromSeed, signText } from '../identity/keys.ts';
import {
  ALICE_KEY,
  ALICE_PEER_ID,
  ALICE_SEED,
  BOB_KEY,
  BOB_PEER_ID,
  BOB_SEED,
  CALL_ID,
  FP_ALICE,
  FP_MALLORY,
  sdpWith,
} from '../identity/test-vectors.ts';
import { IdentitySignedAuth, keyChangedText } from './identity-signed-auth.ts';

/** Alice's signature over `parley-v2|CALL_ID|ALICE_PEER_ID|BOB_KEY|FP_ALICE` (node:crypto). */
const ALICE_SIG = 'JUit8hZYeHHAvArYYyXjODES5CsSFa2j6CqEp7LU1dJQfgqq-gdQx67p3xprs5AuthoeWhrajLP6iyWUmxDgDw';
const MALLORY_SEED = fromHex('1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100');

/** The auth on `me`'s side of a call with `peerKey` (signing as the worker would). */
function authFor(me: Identity, peerKey: string, peerName = 'Ana'): IdentitySignedAuth {
  return new IdentitySignedAuth({
    callId: CALL_ID,
    selfKey: me.publicKey,
    peerKey,
    peerName,
    sign: (senderId, sdp) =>
      signCallDescription(me, { callId: CALL_ID, senderPeerId: senderId, recipientKey: peerKey, sdp }),
  });
}

describe('IdentitySignedAuth', () => {
  it('sends `<key>.<signature>` (fixed vector) and the contact verifies it against the pinned key', async () => {
    const [alice, bob] = await Promise.all([identityFromSeed(ALICE_SEED), identityFromSeed(BOB_SEED)]);
    const auth = await authFor(alice, BOB_KEY).sign(ALICE_PEER_ID, sdpWith(FP_ALICE));
    expect(auth).toBe(`${ALICE_KEY}.${ALICE_SIG}`);
    const atBob = authFor(bob, ALICE_KEY);
    expect(await atBob.verify(ALICE_PEER_ID, sdpWith(FP_ALICE), auth)).toBe(true);
    expect(atBob.refusal()).toBeNull();
  });

  it('refuses a fingerprint swap, another sender id, another call, another recipient', async () => {
    const [alice, bob] = await Promise.all([identityFromSeed(ALICE_SEED), identityFromSeed(BOB_SEED)]);
    const auth = `${ALICE_KEY}.${ALICE_SIG}`;
    const atBob = authFor(bob, ALICE_KEY);
    expect(await atBob.verify(ALICE_PEER_ID, sdpWith(FP_MALLORY), auth)).toBe(false);
    expect(await atBob.verify(ALICE_PEER_ID, sdpWith(`${FP_ALICE}\r\n${FP_MALLORY}`), auth)).toBe(false);
    // Reflected back with Bob's own id as the sender.
    expect(await atBob.verify(BOB_PEER_ID, sdpWith(FP_ALICE), auth)).toBe(false);
    const otherCall = new IdentitySignedAuth({
      callId: 'x'.repeat(22),
      selfKey: BOB_KEY,
      peerKey: ALICE_KEY,
      peerName: 'Ana',
      sign: async () => '',
    });
    expect(await otherCall.verify(ALICE_PEER_ID, sdpWith(FP_ALICE), auth)).toBe(false);
    // Meant for Bob, replayed to Mallory (who also pinned Alice).
    const mallory = await identityFromSeed(MALLORY_SEED);
    expect(await authFor(mallory, ALICE_KEY).verify(ALICE_PEER_ID, sdpWith(FP_ALICE), auth)).toBe(false);
    // Tampering is not a key change: the generic sentence stays.
    expect(atBob.refusal()).toBeNull();
    expect(alice.publicKey).toBe(ALICE_KEY);
  });

  it("says the contact's key changed when another key validly signed the call", async () => {
    const [bob, mallory] = await Promise.all([identityFromSeed(BOB_SEED), identityFromSeed(MALLORY_SEED)]);
    const auth = await authFor(mallory, BOB_KEY).sign(ALICE_PEER_ID, sdpWith(FP_MALLORY));
    expect(auth.startsWith(`${mallory.publicKey}.`)).toBe(true);
    const atBob = authFor(bob, ALICE_KEY, 'Ana');
    expect(await atBob.verify(ALICE_PEER_ID, sdpWith(FP_MALLORY), auth)).toBe(false);
    expect(atBob.refusal()).toBe(keyChangedText('Ana'));
    expect(atBob.refusal()).toMatch(/^Ana's key changed: .*save Ana again/);
  });

  it('refuses malformed auths and link-secret MACs without throwing', async () => {
    const bob = await identityFromSeed(BOB_SEED);
    const atBob = authFor(bob, ALICE_KEY);
    const sdp = sdpWith(FP_ALICE);
    for (const auth of [
      '',
      ALICE_SIG,
      ALICE_KEY,
      `${ALICE_KEY}.`,
      `${ALICE_KEY}.${ALICE_SIG}.x`,
      `${ALICE_KEY}.${ALICE_SIG.slice(1)}`,
      'A'.repeat(43), // a link call's MAC
      `${ALICE_KEY}.${'A'.repeat(86)}`,
    ]) {
      expect(await atBob.verify(ALICE_PEER_ID, sdp, auth)).toBe(false);
    }
    expect(atBob.refusal()).toBeNull();
  });

  it('never hands out a malformed auth (a worker that could not sign)', async () => {
    const auth = new IdentitySignedAuth({
      callId: CALL_ID,
      selfKey: BOB_KEY,
      peerKey: ALICE_KEY,
      peerName: 'Ana',
      sign: async () => 'not a signature',
    });
    await expect(auth.sign(BOB_PEER_ID, sdpWith(FP_ALICE))).rejects.toThrow('could not sign');
  });

  it('signs exactly the text of src/identity/binding.ts', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    const text = callDescriptionText({
      callId: CALL_ID,
      senderPeerId: ALICE_PEER_ID,
      recipientKey: BOB_KEY,
      sdp: sdpWith(FP_ALICE),
    });
    expect(text).toBe(`parley-v2|${CALL_ID}|${ALICE_PEER_ID}|${BOB_KEY}|${FP_ALICE}`);
    expect(await signText(alice, text)).toBe(ALICE_SIG);
  });

  it('signs ahead: the description with those fingerprints uses that signature, any other is signed anew', async () => {
    const [alice, bob] = await Promise.all([identityFromSeed(ALICE_SEED), identityFromSeed(BOB_SEED)]);
    const asked: string[] = [];
    const auth = new IdentitySignedAuth({
      callId: CALL_ID,
      selfKey: ALICE_KEY,
      peerKey: BOB_KEY,
      peerName: 'Bo',
      sign: (senderId, sdp) => {
        asked.push(`${senderId} ${sdp}`);
        return signCallDescription(alice, {
          callId: CALL_ID,
          senderPeerId: senderId,
          recipientKey: BOB_KEY,
          sdp,
        });
      },
    });
    auth.prepare(ALICE_PEER_ID, FP_ALICE);
    auth.prepare(ALICE_PEER_ID, FP_ALICE);
    expect(asked).toEqual([`${ALICE_PEER_ID} ${FP_ALICE}`]);
    const signed = await auth.sign(ALICE_PEER_ID, sdpWith(FP_ALICE));
    expect(signed).toBe(`${ALICE_KEY}.${ALICE_SIG}`);
    expect(asked).toHaveLength(1);
    expect(await authFor(bob, ALICE_KEY).verify(ALICE_PEER_ID, sdpWith(FP_ALICE), signed)).toBe(true);
    // Other fingerprints (or another id) than prepared: a fresh signature, which verifies for them.
    const other = await auth.sign(ALICE_PEER_ID, sdpWith(FP_MALLORY));
    expect(asked).toHaveLength(2);
    expect(await authFor(bob, ALICE_KEY).verify(ALICE_PEER_ID, sdpWith(FP_MALLORY), other)).toBe(true);
  });
});
