import { describe, expect, it } from 'vitest';
import {
  sdpFingerprints,
  signCallDescription,
  signContactBinding,
  verifyCallDescription,
  verifyContactBinding,
} from './binding.ts';
import { identityFromSeed } from './keys.ts';
import {
  ALICE_KEY,
  ALICE_PEER_ID,
  ALICE_SEED,
  BOB_KEY,
  BOB_PEER_ID,
  CALL_ID,
  FP_ALICE,
  FP_BOB,
  FP_MALLORY,
  sdpWith,
} from './test-vectors.ts';

const aliceSdp = sdpWith(FP_ALICE);
const bobSdp = sdpWith(FP_BOB);

describe('contact binding (key ↔ DTLS fingerprints of the call)', () => {
  it('has a fixed signature for known inputs, and verifies on the other side', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    const binding = { callId: CALL_ID, signerPeerId: ALICE_PEER_ID, signerSdp: aliceSdp, otherSdp: bobSdp };
    const sig = await signContactBinding(alice, binding);
    expect(sig).toBe(
      'U3C1HNs0Q2GN6qryqvInK5NLb5sULPhDtQ-4dA1akT1h1T8smXkURVZ61HUWd-OydckGqdaace0_oA-rZP0cAg',
    );
    // Bob checks it with Alice's description as he received it and his own.
    expect(await verifyContactBinding(ALICE_KEY, binding, sig)).toBe(true);
  });

  it('fails when a server swapped either certificate, or the key, or the call', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    const binding = { callId: CALL_ID, signerPeerId: ALICE_PEER_ID, signerSdp: aliceSdp, otherSdp: bobSdp };
    const sig = await signContactBinding(alice, binding);
    const mallory = sdpWith(FP_MALLORY);
    expect(await verifyContactBinding(ALICE_KEY, { ...binding, signerSdp: mallory }, sig)).toBe(false);
    expect(await verifyContactBinding(ALICE_KEY, { ...binding, otherSdp: mallory }, sig)).toBe(false);
    expect(await verifyContactBinding(BOB_KEY, binding, sig)).toBe(false);
    expect(await verifyContactBinding(ALICE_KEY, { ...binding, callId: 'x'.repeat(22) }, sig)).toBe(false);
    expect(await verifyContactBinding(ALICE_KEY, { ...binding, signerPeerId: BOB_PEER_ID }, sig)).toBe(false);
    expect(await verifyContactBinding(ALICE_KEY, { ...binding, signerSdp: 'v=0\r\n' }, sig)).toBe(false);
  });
});

describe('call descriptions signed by the identity key (calls between contacts)', () => {
  it('has a fixed signature, verifies against the pinned key', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    const binding = { callId: CALL_ID, senderPeerId: ALICE_PEER_ID, recipientKey: BOB_KEY, sdp: aliceSdp };
    const sig = await signCallDescription(alice, binding);
    expect(sig).toBe(
      'JUit8hZYeHHAvArYYyXjODES5CsSFa2j6CqEp7LU1dJQfgqq-gdQx67p3xprs5AuthoeWhrajLP6iyWUmxDgDw',
    );
    expect(await verifyCallDescription(ALICE_KEY, binding, sig)).toBe(true);
  });

  it('refuses a swapped or added fingerprint, a reflection, another recipient, no fingerprint', async () => {
    const alice = await identityFromSeed(ALICE_SEED);
    const binding = { callId: CALL_ID, senderPeerId: ALICE_PEER_ID, recipientKey: BOB_KEY, sdp: aliceSdp };
    const sig = await signCallDescription(alice, binding);
    const swapped = { ...binding, sdp: sdpWith(FP_MALLORY) };
    const added = { ...binding, sdp: sdpWith(`${FP_ALICE}\r\n${FP_MALLORY}`) };
    expect(await verifyCallDescription(ALICE_KEY, swapped, sig)).toBe(false);
    expect(await verifyCallDescription(ALICE_KEY, added, sig)).toBe(false);
    expect(await verifyCallDescription(ALICE_KEY, { ...binding, senderPeerId: BOB_PEER_ID }, sig)).toBe(
      false,
    );
    expect(await verifyCallDescription(ALICE_KEY, { ...binding, recipientKey: ALICE_KEY }, sig)).toBe(false);
    expect(await verifyCallDescription(ALICE_KEY, { ...binding, sdp: 'v=0\r\n' }, sig)).toBe(false);
    await expect(signCallDescription(alice, { ...binding, sdp: 'v=0\r\n' })).rejects.toThrow(
      'no DTLS fingerprint',
    );
  });

  it('normalises fingerprints: order, duplicates and line endings do not matter', () => {
    expect(sdpFingerprints(sdpWith(FP_ALICE))).toBe(FP_ALICE);
    expect(sdpFingerprints(`${FP_BOB}\n${FP_ALICE}\r\n${FP_BOB}`)).toBe(`${FP_BOB}\n${FP_ALICE}`);
  });
});
