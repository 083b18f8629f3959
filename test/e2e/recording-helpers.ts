/**
 * What the recording e2e files share: an init script that keeps every MediaRecorder the page
 * makes and samples the Recording indicator, and ffprobe/ffmpeg (Debian's ffmpeg) reading the
 * saved WebM: its streams and duration, its packets' times, a frame's picture, its loudness.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Every MediaRecorder the page makes is kept (`__recorders`, its start time in
 * `__recordingSince`); the Recording indicator can be sampled (`__watchIndicator`); each
 * visibility change is logged with its time (`__visibility`).
 */
export const INSTRUMENT = () => {
  // The indicator as shown, sampled every 100 ms in the page once `__watchIndicator` runs.
  const samples: { at: number; text: string | null }[] = [];
  const w = window as unknown as {
    __indicator: typeof samples;
    __watchIndicator: () => void;
    __recorders: MediaRecorder[];
    __recordingSince: number;
    __visibility: { at: number; state: DocumentVisibilityState }[];
  };
  w.__indicator = samples;
  let watching = false;
  w.__watchIndicator = () => {
    if (watching) return;
    watching = true;
    setInterval(() => {
      const node = document.querySelector<HTMLElement>('.parley-recording');
      samples.push({ at: Date.now(), text: node?.checkVisibility() ? node.textContent : null });
    }, 100);
  };
  w.__visibility = [];
  document.addEventListener('visibilitychange', () =>
    w.__visibility.push({ at: Date.now(), state: document.visibilityState }),
  );
  w.__recorders = [];
  const Native = window.MediaRecorder;
  window.MediaRecorder = class extends Native {
    constructor(stream: MediaStream, options?: MediaRecorderOptions) {
      super(stream, options);
      w.__recorders.push(this);
    }
    override start(timeslice?: number): void {
      w.__recordingSince = Date.now();
      super.start(timeslice);
    }
  } as typeof MediaRecorder;
};

/** Fails with the install command when ffprobe is missing. */
export async function requireFfprobe(): Promise<void> {
  try {
    await run('ffprobe', ['-version']);
  } catch {
    throw new Error('ffprobe not found: install it with `apt-get install -y ffmpeg` (Debian/Ubuntu).');
  }
}

/** Streams and duration of a media file, as ffprobe decodes them. */
export async function probe(path: string): Promise<{ streams: string[]; codecs: string[]; seconds: number }> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_type,codec_name:packet=pts_time,duration_time',
    '-of',
    'json',
    path,
  ]);
  const info = JSON.parse(stdout) as {
    streams: { codec_type: string; codec_name: string }[];
    packets: { pts_time?: string; duration_time?: string }[];
  };
  // Packet times: MediaRecorder's WebM carries no duration field, so it is read off the packets.
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const p of info.packets) {
    const at = Number(p.pts_time);
    if (!Number.isFinite(at)) continue;
    first = Math.min(first, at);
    last = Math.max(last, at + (Number(p.duration_time) || 0));
  }
  return {
    streams: info.streams.map((s) => s.codec_type).sort(),
    codecs: info.streams.map((s) => s.codec_name).sort(),
    seconds: last - Math.min(first, last),
  };
}

/** The times (s, in order) of a stream's packets: each video packet is one frame. */
export async function packetTimes(path: string, stream: 'v' | 'a'): Promise<number[]> {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=pts_time', '-of', 'json', path],
    { maxBuffer: 16 << 20 },
  );
  const info = JSON.parse(stdout) as { packets: { pts_time?: string }[] };
  return info.packets
    .map((p) => Number(p.pts_time))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
}

/** The longest time between two packets in `times` (s). */
export function longestGap(times: readonly number[]): number {
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i] as number) - (times[i - 1] as number));
  return gap;
}

/** The standard deviation of a frame's grey levels, 2 s in (0 for a uniform picture). */
export async function pictureSpread(path: string): Promise<number> {
  const { stdout } = await run(
    'ffmpeg',
    [
      '-v',
      'error',
      '-i',
      path,
      // Output-side selection decodes from the start: seeking (-ss) in MediaRecorder's WebM,
      // which has no cues, can land past every frame and return nothing.
      '-vf',
      'select=gte(t\\,2),scale=64:36,format=gray',
      '-frames:v',
      '1',
      '-f',
      'rawvideo',
      '-',
    ],
    { encoding: 'buffer', maxBuffer: 1 << 20 },
  );
  const pixels = [...(stdout as Buffer)];
  if (pixels.length === 0) throw new Error(`No video frame at or after 2 s could be decoded from ${path}.`);
  const mean = pixels.reduce((a, b) => a + b, 0) / pixels.length;
  return Math.sqrt(pixels.reduce((a, b) => a + (b - mean) ** 2, 0) / pixels.length);
}

/** The loudest sample of the audio stream, in dB (volumedetect). */
export async function loudness(path: string): Promise<number> {
  const { stderr } = await run('ffmpeg', [
    '-v',
    'info',
    '-i',
    path,
    '-map',
    '0:a',
    '-af',
    'volumedetect',
    '-f',
    'null',
    '-',
  ]);
  const max = /max_volume: (-?[\d.]+) dB/.exec(stderr);
  return max ? Number(max[1]) : Number.NEGATIVE_INFINITY;
}
