/**
 * Save contact and Verify between two people (real keys, signatures and SAS; the connection a
 * pair of in-memory channels) while their connection is replaced: the person's PeerLink
 * pauses and re-attaches to a new connection with new DTLS fingerprints (an overlay that was
 * re-mounted has a new certificate).
 */
import { describe, expect, it, vi } from 'vitest';
import { fakeConnection } from '../call/files/fake-link.ts';
import type { ControlMessage } from '../call/peer-link.ts';
import { PeerLink } from '../call/peer-link.ts';
import { type ContactBinding, signContactBinding } from '../identity/binding.ts';
import { randomBytes, toBase64Url } from '../identity/bytes.ts';
import { identityFromSeed } from '../identity/keys.ts';
import {
  ALICE_KEY,
  ALICE_PEER_ID,
  ALICE_SEED,
  BOB_KEY,
  BOB_PEER_ID,
  BOB_SEED,
  CALL_ID,
  sdpWith,
} from '../identity/test-vectors.ts';
import { ContactExchange, type ContactIdentity } from './contact-exchange.ts';

/** A new certificate's fingerprint line. */
function fingerprint(): string {
  const hex = Array.from(randomBytes(32), (b) => b.toString(16).padStart(2, '0').toUpperCase());
  return `a=fingerprint:sha-256 ${hex.join(':')}`;
}

/** What the service worker does for the panel, with a real key; `known`: already contacts. */
async function worker(seed: Uint8Array<ArrayBuffer>, known: boolean) {
  const identity = await identityFromSeed(seed);
  const saved: string[] = [];
  let gate: Promise<void> = Promise.resolve();
  const api: ContactIdentity = {
    selfKey: async () => identity.publicKey,
    async sign(binding: ContactBinding) {
      await gate;
      const sig = await signContactBinding(identity, binding);
      return { key: identity.publicKey, sig, nonce: toBase64Url(randomBytes(32)) };
    },
    save: async (contact) => {
      saved.push(contact.key);
      return true;
    },
    lookup: async () => (known ? { name: 'Them', verified: false } : null),
    verified: async () => true,
  };
  return {
    api,
    saved,
    /** Signing waits until the returned function is called (a slow round trip to the worker). */
    holdSigning(): () => void {
      let release = () => {};
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return release;
    },
  };
}

/** Ana's link to Bo and Bo's to Ana, over connections that can be cut and made again. */
function call() {
  const received: { ana: ControlMessage[]; bo: ControlMessage[] } = { ana: [], bo: [] };
  const pair = {
    ana: new PeerLink(
      'bo',
      () => 'Bo',
      () => {},
    ),
    bo: new PeerLink(
      'ana',
      () => 'Ana',
      () => {},
    ),
    received,
    cut: () => {},
    /** A new connection (new certificates on both sides) attaches to both links. */
    connect() {
      const c = fakeConnection(64 * 1024);
      const sdpAna = sdpWith(fingerprint());
      const sdpBo = sdpWith(fingerprint());
      c.a.control.addEventListener('message', (e) => {
        const data = (e as MessageEvent).data as string;
        received.ana.push(JSON.parse(data));
        pair.ana.deliver(data);
      });
      c.b.control.addEventListener('message', (e) => {
        const data = (e as MessageEvent).data as string;
        received.bo.push(JSON.parse(data));
        pair.bo.deliver(data);
      });
      pair.cut = () => {
        c.a.control.close();
        c.a.files.close();
        pair.ana.detach();
        pair.bo.detach();
      };
      pair.ana.attach({ ...c.a, descriptions: () => ({ local: sdpAna, remote: sdpBo }) });
      pair.bo.attach({ ...c.b, descriptions: () => ({ local: sdpBo, remote: sdpAna }) });
    },
  };
  return pair;
}

function exchange(
  link: PeerLink,
  who: 'Ana' | 'Bo',
  identity: ContactIdentity,
  ended: string[],
): ContactExchange {
  return new ContactExchange(link, {
    callId: CALL_ID,
    selfId: () => (who === 'Ana' ? ALICE_PEER_ID : BOB_PEER_ID),
    localName: who,
    identity,
    endCall: (message) => ended.push(`${who}: ${message}`),
    changed: () => {},
  });
}

async function setUp(known: boolean) {
  const [anaWorker, boWorker] = await Promise.all([worker(ALICE_SEED, known), worker(BOB_SEED, known)]);
  const c = call();
  c.connect();
  const ended: string[] = [];
  const ana = exchange(c.ana, 'Ana', anaWorker.api, ended);
  const bo = exchange(c.bo, 'Bo', boWorker.api, ended);
  const phase = known ? 'known' : 'idle';
  await vi.waitFor(() => {
    expect([ana.theirKey, ana.phase]).toEqual([BOB_KEY, phase]);
    expect([bo.theirKey, bo.phase]).toEqual([ALICE_KEY, phase]);
  });
  return { c, ana, bo, anaWorker, boWorker, ended };
}

const offersFrom = (messages: ControlMessage[]) => messages.filter((m) => m.t === 'contact-offer');

describe('ContactExchange across a replaced connection', () => {
  it('Verify begun on a connection that is then replaced compares codes on the new one: the same on both sides, the call goes on', async () => {
    const { c, ana, bo, ended } = await setUp(true);
    // Bo presses Verify; the connection goes down before his request reaches Ana.
    await bo.verify();
    c.cut();
    c.connect();
    // Ana presses Verify on the new connection.
    await ana.verify();
    await vi.waitFor(() => {
      expect(ended).toEqual([]);
      expect(ana.sasShown).not.toBeNull();
      expect(bo.sasShown).not.toBeNull();
    });
    expect(bo.sasShown).toEqual(ana.sasShown);
    // They match: both mark each other verified, and the call goes on.
    await Promise.all([ana.decide(true), bo.decide(true)]);
    expect([ana.verified, bo.verified]).toEqual([true, true]);
    expect(ended).toEqual([]);
  });

  it('codes shown before the connection was replaced are taken down and compared again on the new one', async () => {
    const { c, ana, bo, ended } = await setUp(true);
    await ana.verify();
    await vi.waitFor(() => expect(bo.sasShown).not.toBeNull());
    await vi.waitFor(() => expect(ana.sasShown).toEqual(bo.sasShown));
    const before = ana.sasShown;
    c.cut();
    // The old codes belong to the old connection: nobody may confirm them now.
    expect([ana.sasShown, bo.sasShown]).toEqual([null, null]);
    c.connect();
    await vi.waitFor(() => {
      expect(ana.sasShown).not.toBeNull();
      expect(bo.sasShown).toEqual(ana.sasShown);
    });
    expect(ana.sasShown).not.toEqual(before);
    expect(ended).toEqual([]);
  });

  it('an offer being signed when the connection is replaced is signed for the new one: Bo is asked, both save', async () => {
    const { c, ana, bo, anaWorker, boWorker } = await setUp(false);
    const release = anaWorker.holdSigning();
    const saving = ana.save();
    c.cut();
    c.connect();
    release();
    await saving;
    await vi.waitFor(() => expect({ phase: bo.phase, note: bo.note }).toEqual({ phase: 'asked', note: '' }));
    await bo.save();
    await vi.waitFor(() => expect([ana.phase, bo.phase]).toEqual(['saved', 'saved']));
    expect(anaWorker.saved).toEqual([BOB_KEY]);
    expect(boWorker.saved).toEqual([ALICE_KEY]);
    expect(offersFrom(c.received.bo)).toHaveLength(1);
  });

  it('Save contact pressed while the connection is being replaced goes out once on the new one', async () => {
    const { c, ana, bo } = await setUp(false);
    c.cut();
    const saving = ana.save();
    expect(ana.phase).toBe('asking');
    c.connect();
    await saving;
    await vi.waitFor(() => expect({ phase: bo.phase, note: bo.note }).toEqual({ phase: 'asked', note: '' }));
    expect(offersFrom(c.received.bo)).toHaveLength(1);
  });

  it('Not now said while the connection is being replaced reaches Ana on the new one', async () => {
    const { c, ana, bo } = await setUp(false);
    await ana.save();
    await vi.waitFor(() => expect(bo.phase).toBe('asked'));
    c.cut();
    bo.notNow();
    c.connect();
    await vi.waitFor(() =>
      expect({ phase: ana.phase, note: ana.note }).toEqual({
        phase: 'idle',
        note: 'Bo did not save you as a contact.',
      }),
    );
  });

  it("Bo's re-mounted overlay learns Ana's key again and offers Save contact", async () => {
    const { c, anaWorker, boWorker, ended } = await setUp(false);
    // Bo's overlay goes (its link with it); his new overlay has a new link and a new panel.
    c.cut();
    c.bo.close();
    c.bo = new PeerLink(
      'ana',
      () => 'Ana',
      () => {},
    );
    c.connect();
    const bo = exchange(c.bo, 'Bo', boWorker.api, ended);
    await vi.waitFor(() => expect([bo.theirKey, bo.phase]).toEqual([ALICE_KEY, 'idle']));
    expect(anaWorker.saved).toEqual([]);
  });
});
