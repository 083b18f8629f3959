import { describe, expect, it } from 'vitest';
import { createMemoryDirectory } from './presence-directory.ts';

describe('memory presence directory', () => {
  it('routes a mailbox to its newest holder, and an old holder leaving does not take it offline', () => {
    const directory = createMemoryDirectory<string>();
    directory.set('m1', 'old socket');
    directory.set('m1', 'new socket');
    expect(directory.get('m1')).toBe('new socket');
    directory.delete('m1', 'old socket');
    expect(directory.get('m1')).toBe('new socket');
    directory.delete('m1', 'new socket');
    expect(directory.get('m1')).toBeUndefined();
    expect(directory.size()).toBe(0);
  });
});

describe('memory ring limits and call ids', () => {
  it('takes a ring token from the key and the address together, or from neither', async () => {
    const directory = createMemoryDirectory<string>({ ringBurst: 2, ringPerMin: 1 });
    expect(await directory.takeRingToken('k1', 'ip1', 0)).toBe(true);
    expect(await directory.takeRingToken('k2', 'ip1', 0)).toBe(true);
    // The address is spent: k3 is refused and keeps its own token for another address.
    expect(await directory.takeRingToken('k3', 'ip1', 0)).toBe(false);
    expect(await directory.takeRingToken('k3', 'ip2', 0)).toBe(true);
    expect(await directory.takeRingToken('k3', 'ip3', 0)).toBe(true);
    expect(await directory.takeRingToken('k3', 'ip4', 0)).toBe(false);
    // One token a minute comes back.
    expect(await directory.takeRingToken('k3', 'ip4', 60_000)).toBe(true);
    await directory.close();
  });

  it('refuses a call id until its invite has expired', async () => {
    const directory = createMemoryDirectory<string>();
    expect(await directory.claimCallId('c1', 1000, 0)).toBe(true);
    expect(await directory.claimCallId('c1', 1000, 500)).toBe(false);
    expect(await directory.claimCallId('c1', 3000, 1000)).toBe(true);
    await directory.close();
  });
});
