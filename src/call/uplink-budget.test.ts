/** The uplink budget: N − 1 copies of our video fit UPLINK_BUDGET_KBPS together. */
import { describe, expect, it } from 'vitest';
import {
  applyVideoCap,
  FULL_FPS,
  REDUCED_FPS,
  scaleFor,
  UPLINK_BUDGET_KBPS,
  videoCap,
} from './uplink-budget.ts';

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
  it('is this table for three to six people (bitrate, lines, frames per second per copy)', () => {
    const table = [3, 4, 5, 6].map((n) => {
      const cap = videoCap(n)!;
      return [n, cap.maxBitrate / 1000, cap.maxHeight, cap.maxFramerate];
    });
    expect(table).toEqual([
      [3, 1660, 720, 30],
      [4, 1093, 540, 30],
      [5, 810, 360, 15],
      [6, 640, 360, 15],
    ]);
  });
  it('halves the frame rate per copy from five people on, and never raises it as people come', () => {
    expect(videoCap(4)?.maxFramerate).toBe(FULL_FPS);
    expect(videoCap(5)?.maxFramerate).toBe(REDUCED_FPS);
    expect(REDUCED_FPS).toBe(FULL_FPS / 2);
    for (let n = 4; n <= 8; n++)
      expect(videoCap(n)!.maxFramerate).toBeLessThanOrEqual(videoCap(n - 1)!.maxFramerate);
  });
});

describe('scaleFor', () => {
  it('scales down only what is taller than the cap', () => {
    const cap = { maxBitrate: 600_000, maxHeight: 360, maxFramerate: 15 };
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
  it('sets the bitrate, the scale and the frame rate, does nothing when they are set, and takes them off again', async () => {
    const s = fakeSender(720);
    await applyVideoCap(s.sender, videoCap(6));
    expect(s.params().encodings[0]).toMatchObject({
      maxBitrate: videoCap(6)!.maxBitrate,
      scaleResolutionDownBy: 2,
      maxFramerate: 15,
    });
    await applyVideoCap(s.sender, videoCap(6));
    expect(s.sets).toHaveLength(1);
    // Someone leaves: four people, full frame rate again.
    await applyVideoCap(s.sender, videoCap(4));
    expect(s.sets).toHaveLength(2);
    expect(s.params().encodings[0]).toMatchObject({ maxFramerate: 30, scaleResolutionDownBy: 720 / 540 });
    await applyVideoCap(s.sender, null);
    expect(s.params().encodings[0]?.maxBitrate).toBeUndefined();
    expect(s.params().encodings[0]?.maxFramerate).toBeUndefined();
    expect(s.params().encodings[0]?.scaleResolutionDownBy).toBe(1);
    expect(s.sets).toHaveLength(3);
  });
});
