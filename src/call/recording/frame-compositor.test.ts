import { afterEach, describe, expect, test, vi } from 'vitest';
import type { CompositorSource } from './compositor.ts';
import { blend, blitScaled, FrameCompositor, fillRect, rgbaToI420, rgbaWord } from './frame-compositor.ts';

const RED = rgbaWord(255, 0, 0);
const BLUE = rgbaWord(0, 0, 255);

/** The RGBA bytes of a word, as the picture holds them. */
function bytesOf(word: number): number[] {
  return [...new Uint8Array(new Uint32Array([word]).buffer)];
}

describe('the recording picture made from frames', () => {
  test('a word is laid out as the RGBA bytes a frame copies out', () => {
    expect(bytesOf(rgbaWord(0x11, 0x14, 0x18))).toEqual([0x11, 0x14, 0x18, 0xff]);
  });

  test('a frame is scaled into its place, nearest pixel, and nothing outside it changes', () => {
    // A 2×2 frame: red on the left, blue on the right.
    const src = new Uint32Array([RED, BLUE, RED, BLUE]);
    const dst = new Uint32Array(8 * 4);
    blitScaled(src, 2, 2, dst, 8, 4, { x: 2, y: 1, w: 4, h: 2 });
    const row = (y: number) => [...dst.subarray(y * 8, y * 8 + 8)];
    expect(row(0)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(row(1)).toEqual([0, 0, RED, RED, BLUE, BLUE, 0, 0]);
    expect(row(2)).toEqual([0, 0, RED, RED, BLUE, BLUE, 0, 0]);
    expect(row(3)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('a place partly outside the picture is cut, never written past the edge', () => {
    const dst = new Uint32Array(4 * 2);
    blitScaled(new Uint32Array([RED]), 1, 1, dst, 4, 2, { x: 2, y: -1, w: 10, h: 10 });
    expect([...dst]).toEqual([0, 0, RED, RED, 0, 0, RED, RED]);
    fillRect(dst, 4, 2, { x: -3, y: 1, w: 4, h: 9 }, BLUE);
    expect([...dst]).toEqual([0, 0, RED, RED, BLUE, 0, RED, RED]);
  });

  test('a half-transparent name band darkens what is under it; transparent pixels leave it', () => {
    const dst = new Uint8ClampedArray([200, 100, 50, 255, 200, 100, 50, 255]);
    const band = new Uint8ClampedArray([0, 0, 0, 128, 255, 255, 255, 0]);
    blend(band, 2, 1, dst, 2, 1, 0, 0);
    expect([...dst]).toEqual([100, 50, 25, 255, 200, 100, 50, 255]);
  });

  test('RGBA becomes I420 with the BT.601 limited-range values encoders expect', () => {
    // 2×2 of white, black, red, green: luma per pixel, one chroma pair from the top-left.
    const rgba = new Uint8ClampedArray([255, 255, 255, 255, 0, 0, 0, 255, 255, 0, 0, 255, 0, 255, 0, 255]);
    const out = new Uint8Array(6);
    rgbaToI420(rgba, 2, 2, out);
    expect([...out.subarray(0, 4)]).toEqual([235, 16, 82, 144]);
    expect([out[4], out[5]]).toEqual([128, 128]); // white has no colour
    const red = new Uint8Array(6);
    rgbaToI420(
      new Uint8ClampedArray([255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255]),
      2,
      2,
      red,
    );
    expect([red[0], red[4], red[5]]).toEqual([82, 90, 240]);
  });
});

/** A fake VideoFrame that knows whether it was closed. */
class FakeFrame {
  closed = false;
  readonly displayWidth = 4;
  readonly displayHeight = 2;
  readonly visibleRect = { width: 4, height: 2 };
  copyTo(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('closed'));
    return Promise.resolve();
  }
  close(): void {
    this.closed = true;
  }
}

/**
 * A camera read through a fake MediaStreamTrackProcessor that hands frames over as Chromium's
 * does: a frame for a pending read is made at once and enqueued in a later task; one whose
 * stream was cancelled in between is dropped, never closed (left to the garbage collector).
 */
function fakeCamera() {
  const made: FakeFrame[] = [];
  const clones: { stopped: boolean }[] = [];
  const clone = () => {
    const track = {
      stopped: false,
      readyState: 'live',
      enabled: true,
      stop() {
        track.stopped = true;
      },
    };
    clones.push(track);
    return track;
  };
  const original = { readyState: 'live', enabled: true, clone };
  const stream = { getVideoTracks: () => [original] } as unknown as MediaStream;
  class Processor {
    readonly readable: ReadableStream<FakeFrame>;
    constructor() {
      let cancelled = false;
      this.readable = new ReadableStream<FakeFrame>(
        {
          pull(controller) {
            const frame = new FakeFrame();
            made.push(frame);
            setTimeout(() => {
              if (!cancelled) controller.enqueue(frame);
            }, 2);
          },
          cancel() {
            cancelled = true;
          },
        },
        { highWaterMark: 0 },
      );
    }
  }
  class Generator {
    readonly writable = new WritableStream<FakeFrame>({ write: (frame) => frame.close() });
    stop(): void {}
  }
  vi.stubGlobal('MediaStreamTrackProcessor', Processor);
  vi.stubGlobal('MediaStreamTrackGenerator', Generator);
  vi.stubGlobal('VideoFrame', FakeFrame);
  return { stream, made, clones };
}

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
};

describe('the frame compositor letting go of a source', () => {
  afterEach(() => vi.unstubAllGlobals());

  test('a person who leaves the recording while a frame is on its way: every frame is closed, and the camera clone stopped', async () => {
    const camera = fakeCamera();
    let present = true;
    const source: CompositorSource = {
      key: 'ana\ncamera',
      label: 'Ana',
      stream: camera.stream,
      screen: false,
    };
    const compositor = new FrameCompositor(() => (present ? [source] : []));
    await until(() => camera.made.length >= 5);
    // Ana leaves: her source is dropped while the compositor's read waits for her next frame.
    present = false;
    compositor.draw();
    await until(() => camera.clones.every((c) => c.stopped));
    await new Promise((r) => setTimeout(r, 50));
    compositor.stop();
    expect(camera.made.filter((f) => !f.closed)).toEqual([]);
    expect(camera.clones).toHaveLength(1);
  });

  test('stopping the recording while frames are on their way: every frame is closed, every clone stopped', async () => {
    const camera = fakeCamera();
    const sources: CompositorSource[] = [
      { key: 'ana\ncamera', label: 'Ana', stream: camera.stream, screen: false },
      { key: 'self\ncamera', label: 'Bo', stream: camera.stream, screen: false },
    ];
    const compositor = new FrameCompositor(() => sources);
    await until(() => camera.made.length >= 10);
    compositor.stop();
    await until(() => camera.clones.every((c) => c.stopped));
    await new Promise((r) => setTimeout(r, 50));
    expect(camera.made.filter((f) => !f.closed)).toEqual([]);
    expect(camera.clones).toHaveLength(2);
  });
});
