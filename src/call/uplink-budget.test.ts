/** The uplink budget: N − 1 copies of our video fit UPLINK_BUDGET_KBPS together. */
import { describe, expect, it } from 'vitest';
import { applyVideoCap, scaleFor, UPLINK_BUDGET_KBPS, videoCap } from './uplink-budget.ts';

describe('videoCap', () => {
  it('leaves a two-person call to the browser', () => {
    expect(videoCap(1)).toBeNull();
    expect(videoCap(2)).toBeNull();
  });
  it('fits every copy, with its audio, in the budget, lower as people come', () => {
    let last = Number.POSITIVE_INFINITY;
    for (let n = 3; n <= 8; n++) {
      const cap = videoCap(n);
      expect(cap).not.toBeNull();
      const totalKbps = ((cap!.maxBitrate / 1000 + 40) * (n - 1)) / 0.85;
      expect(totalKbps).toBeLessThanOrEqual(UPLINK_BUDGET_KBPS);
      expect(cap!.maxBitrate).toBeLessThan(last);
      last = cap!.maxBitrate;
    }
    expect(videoCap(6)?.maxHeight).toBe(360);
  });
});

describe('scaleFor', () => {
  it('scales down only what is taller than the cap', () => {
    const cap = { maxBitrate: 600_000, maxHeight: 360 };
    expect(scaleFor(720, cap)).toBe(2);
    expect(scaleFor(240, cap)).toBe(1);
    expect(scaleFor(720, null)).toBe(1);
    expect(scaleFor(undefined, cap)).toBe(1);
  });
});

describe('applyVideoCap', () => {
  function fakeSender(height: number) {
    let params = { encodings: [{ active: true }] } as unknown as RTCRtpSendParameters;
    const sets: RTCRtpSendParameters[] = [];
    const sender = {
      track: { getSettings: () => ({ height }) },
      getParameters: () => structuredClone(params),
      async setParameters(p: RTCRtpSendParameters) {
        params = p;
        sets.push(p);
      },
    } as unknown as RTCRtpSender;
    return { sender, sets, params: () => params };
  }
  it('sets the bitrate and the scale, does nothing when they are set, and takes them off again', async () => {
    const s = fakeSender(720);
    await applyVideoCap(s.sender, videoCap(6));
    expect(s.params().encodings[0]).toMatchObject({
      maxBitrate: videoCap(6)!.maxBitrate,
      scaleResolutionDownBy: 2,
    });
    await applyVideoCap(s.sender, videoCap(6));
    expect(s.sets).toHaveLength(1);
    await applyVideoCap(s.sender, null);
    expect(s.params().encodings[0]?.maxBitrate).toBeUndefined();
    expect(s.params().encodings[0]?.scaleResolutionDownBy).toBe(1);
  });
});
