import { describe, expect, it } from 'vitest';
import { TransferScheduler } from './transfer-scheduler.ts';

describe('TransferScheduler', () => {
  it('takes turns between active transfers', () => {
    const scheduler = new TransferScheduler<string>();
    for (const name of ['a', 'b', 'c']) scheduler.add(name);
    const order = Array.from({ length: 7 }, () => scheduler.next(() => true));
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('gives a small file its share while a big one is sending', () => {
    const scheduler = new TransferScheduler<{ name: string; left: number }>();
    const big = { name: 'big', left: 1000 };
    const small = { name: 'small', left: 3 };
    scheduler.add(big);
    scheduler.add(small);
    const sent: string[] = [];
    for (let i = 0; i < 8; i += 1) {
      const item = scheduler.next((t) => t.left > 0)!;
      item.left -= 1;
      sent.push(item.name);
      if (item.left === 0) scheduler.remove(item);
    }
    expect(sent.slice(0, 6)).toEqual(['big', 'small', 'big', 'small', 'big', 'small']);
    expect(sent.slice(6)).toEqual(['big', 'big']);
  });

  it('skips transfers that are not ready and returns undefined when none is', () => {
    const scheduler = new TransferScheduler<string>();
    for (const name of ['a', 'b', 'c']) scheduler.add(name);
    expect(scheduler.next((t) => t === 'c')).toBe('c');
    expect(scheduler.next((t) => t !== 'c')).toBe('a');
    expect(scheduler.next(() => false)).toBeUndefined();
  });

  it('keeps its place when a transfer is removed', () => {
    const scheduler = new TransferScheduler<string>();
    for (const name of ['a', 'b', 'c', 'd']) scheduler.add(name);
    expect(scheduler.next(() => true)).toBe('a');
    expect(scheduler.next(() => true)).toBe('b');
    scheduler.remove('a');
    expect(scheduler.next(() => true)).toBe('c');
    scheduler.remove('d');
    expect(scheduler.next(() => true)).toBe('b');
    scheduler.remove('b');
    scheduler.remove('c');
    expect(scheduler.next(() => true)).toBeUndefined();
  });
});
