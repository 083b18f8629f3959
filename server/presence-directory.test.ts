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
