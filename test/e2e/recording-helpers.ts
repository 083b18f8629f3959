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
 * `__recordingSince`). The Recording indicator (shown with which text, or not shown) is logged:
 * every change as the DOM changes (`__indicatorChanges`, a MutationObserver: it does not depend
 * on the page's timers, which a busy machine or a background tab delays); what it showed at the
 * moment a recorder started (`__indicatorAtStart`) and at the moment this page sent an Allow
 * (`__allowsSent`: the recorder starts only once that arrives, so this is "before anything of
 * ours was recorded" without comparing two pages' clocks); and sampled on a timer
 * (`__watchIndicator`, which also shows how often the page's timers run). Each visibility change
 * is logged with its time (`__visibility`).
 */
export const INSTRUMENT = () => {
  const indicatorNow = () => {
    const node = document.querySelector<HTMLElement>('.parley-recording');
    return node?.checkVisibility() ? node.textContent : null;
  };
  const log = window as unknown as IndicatorLog;
  log.__indicatorChanges = [];
  log.__indicatorAtStart = [];
  log.__allowsSent = [];
  let shown: string | null | undefined;
  new MutationObserver(() => {
    const text = indicatorNow();
    if (text === shown) return;
    shown = text;
    log.__indicatorChanges.push({ at: Date.now(), text });
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  const send = RTCDataChannel.prototype.send as (this: RTCDataChannel, data: unknown) => void;
  RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: unknown) {
    if (typeof data === 'string' && data.includes('"t":"rec-answer"') && data.includes('"allow":true'))
      log.__allowsSent.push({ at: Date.now(), text: indicatorNow() });
    send.call(this, data);
  } as typeof RTCDataChannel.prototype.send;
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
      log.__indicatorAtStart.push(indicatorNow());
      super.start(timeslice);
    }
  } as typeof MediaRecorder;
};

export interface IndicatorChange {
  at: number;
  text: string | null;
}

interface IndicatorLog {
  __indicatorChanges: IndicatorChange[];
  __indicatorAtStart: (string | null)[];
  __allowsSent: IndicatorChange[];
}

/** The indicator's log in a page (see INSTRUMENT). */
export async function indicatorLog(page: {
  evaluate<T>(fn: () => T | Promise<T>): Promise<T>;
}): Promise<{ changes: IndicatorChange[]; atStart: (string | null)[]; allowsSent: IndicatorChange[] }> {
  return page.evaluate(() => {
    const log = window as unknown as IndicatorLog;
    return { changes: log.__indicatorChanges, atStart: log.__indicatorAtStart, allowsSent: log.__allowsSent };
  });
}

/**
 * What the indicator of `page` showed from the moment the recording could take anything of
 * that person (`from`: the recorder's start in the recorder's page, the Allow leaving in the
 * others') until `until` (the Stop click, recorder's clock): its text at that moment, then
 * every text it changed to before `until`. Shown throughout is `[text]` (a change to the same
 * text logged just after the moment is left out: the observer runs after the task that drew it).
 */
export async function indicatorThroughout(
  page: { evaluate<T>(fn: () => T | Promise<T>): Promise<T> },
  from: 'recorder-start' | 'allow-sent',
  until: number,
): Promise<(string | null)[]> {
  const log = await indicatorLog(page);
  let at: IndicatorChange | undefined;
  if (from === 'allow-sent') at = log.allowsSent.at(-1);
  else {
    const since = await page.evaluate(
      () => (window as unknown as { __recordingSince: number }).__recordingSince,
    );
    const text = log.atStart.at(-1);
    at = text === undefined ? undefined : { at: since, text };
  }
  if (!at) return [];
  const after = log.changes.filter((c) => c.at > at.at && c.at < until).map((c) => c.text);
  return [at.text, ...after.filter((text, i) => !(i === 0 && text === at.text))];
}

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
