import { beforeEach, describe, expect, it } from 'vitest';
import { forgetSendAgainSecret, type SessionArea, sendAgainSecret } from './send-again-secret.ts';

function fakeArea(): SessionArea & { items: Record<string, unknown>; sets: number; broken: boolean } {
  const area = {
    items: {} as Record<string, unknown>,
    sets: 0,
    broken: false,
    async get(key: string) {
      if (area.broken) throw new Error('storage refused');
      return key in area.items ? { [key]: area.items[key] } : {};
    },
    async set(items: Record<string, unknown>) {
      if (area.broken) throw new Error('storage refused');
      area.sets++;
      Object.assign(area.items, items);
    },
  };
  return area;
}

describe('the extension send-again secret kept by the background', () => {
  beforeEach(() => forgetSendAgainSecret());

  it('is made once for overlays that ask at the same moment, and kept in the session area', async () => {
    const area = fakeArea();
    const [a, b] = await Promise.all([sendAgainSecret(area), sendAgainSecret(area)]);
    expect(a).toBe(b);
    expect(atob(a ?? '')).toHaveLength(32);
    expect(area.sets).toBe(1);
    expect(Object.values(area.items)).toEqual([a]);
  });

  it('is the same after the worker restarts (read back from storage)', async () => {
    const area = fakeArea();
    const first = await sendAgainSecret(area);
    forgetSendAgainSecret();
    expect(await sendAgainSecret(area)).toBe(first);
    expect(area.sets).toBe(1);
  });

  it('is null while storage refuses, and made once it works again', async () => {
    const area = fakeArea();
    area.broken = true;
    expect(await sendAgainSecret(area)).toBeNull();
    area.broken = false;
    const secret = await sendAgainSecret(area);
    expect(atob(secret ?? '')).toHaveLength(32);
  });
});
