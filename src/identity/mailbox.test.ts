import { describe, expect, it } from 'vitest';
import { toHex } from './bytes.ts';
import { derivePairSecret, mailboxFor, mailboxId, newPairNonce } from './mailbox.ts';
import { ALICE_KEY, ALICE_PAIR_NONCE, BOB_KEY, BOB_PAIR_NONCE } from './test-vectors.ts';

const alice = { publicKey: ALICE_KEY, nonce: ALICE_PAIR_NONCE };
const bob = { publicKey: BOB_KEY, nonce: BOB_PAIR_NONCE };

describe('pair secret and mailboxes', () => {
  it('derives the same pair secret on both sides, fixed for known inputs', async () => {
    const fromAlice = await derivePairSecret(alice, bob);
    const fromBob = await derivePairSecret(bob, alice);
    expect(toHex(fromAlice)).toBe('47959aa8c3e6c524d3174f5dbea3252b61d853ee49ae0542010fad3fabcfd84d');
    expect(toHex(fromBob)).toBe(toHex(fromAlice));
  });

  it('gives each direction its own mailbox, with fixed tags and ids', async () => {
    const secret = await derivePairSecret(alice, bob);
    expect(await mailboxFor(secret, ALICE_KEY)).toEqual({
      tag: 'Kipka7QLtwhOE-KbNgF31rXF_zuSwhapFt-C34fvBiQ',
      id: '8NbWisLSZGtbmps62pRyig',
    });
    expect(await mailboxFor(secret, BOB_KEY)).toEqual({
      tag: 'j7I11Q0u9C2j13lXOKhSpLaJctKt2MtMxMAnKp_vdWM',
      id: 'gcjMqEYiDsjeTThx_JS2hw',
    });
  });

  it('binds the id to the owner key: the same tag under another key is another mailbox', async () => {
    const secret = await derivePairSecret(alice, bob);
    const { tag, id } = await mailboxFor(secret, ALICE_KEY);
    expect(await mailboxId(ALICE_KEY, tag)).toBe(id);
    expect(await mailboxId(BOB_KEY, tag)).not.toBe(id);
  });

  it('makes unrelated mailboxes for another pair (a new nonce)', async () => {
    const again = await derivePairSecret(alice, { publicKey: BOB_KEY, nonce: newPairNonce() });
    expect((await mailboxFor(again, ALICE_KEY)).id).not.toBe('8NbWisLSZGtbmps62pRyig');
  });

  it('refuses bad inputs with a clear error', async () => {
    await expect(derivePairSecret(alice, alice)).rejects.toThrow('two different keys');
    await expect(derivePairSecret(alice, { publicKey: 'x', nonce: BOB_PAIR_NONCE })).rejects.toThrow(
      'Not a Parley public key.',
    );
    await expect(mailboxFor(new Uint8Array(16), ALICE_KEY)).rejects.toThrow('32 bytes');
  });
});
