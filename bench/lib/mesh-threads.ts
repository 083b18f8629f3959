/**
 * bench:mesh's optional breakdowns (see bench/mesh.ts): CPU per thread of each person's
 * renderer and of the common processes (THREADS=1), and a CPU profile of one page's main
 * thread (PROFILE=1).
 *
 * Thread names are Chromium's (`comm`, at most 15 characters). In a renderer:
 * `CrRendererMain` runs the page's JavaScript, style, layout and paint; `Compositor` and
 * `VizCompositorTh` draw frames; `WebRTC_W_and_N` is WebRTC's worker and network thread
 * (RTP, ICE, DTLS, SRTP); `WebRTC_Signalin` its signaling thread; video encoding and decoding
 * run on `EncoderQueue`/`DecodingQueue` and on `ThreadPoolForeg` workers; audio on
 * `AudioOutputDevi`, `AudioEncoder`/`AudioDecoder`… Several threads of one name are summed.
 */
import { processLabel, processTree, threadTicks } from './proc-tree.ts';

/** Ticks per thread name: each person's own renderer(s), and the common processes. */
export interface ThreadSnapshot {
  own: Map<string, number>[];
  common: Map<string, number>;
}

/** % of one core per thread name over a window. */
export interface ThreadCpu {
  /** A person's own renderer, mean of the people in the call. */
  own: Map<string, number>;
  /** The common processes ("gpu-process: VizCompositorTh", "utility AudioService: …"). */
  common: Map<string, number>;
}

export function threadSnapshot(browserPid: number, own: number[][]): ThreadSnapshot {
  const mine = new Set(own.flat());
  const common = processTree(browserPid).filter((pid) => !mine.has(pid));
  const labels = new Map(common.map((pid) => [pid, processLabel(pid)]));
  return {
    own: own.map((pids) => threadTicks(pids)),
    common: threadTicks(common, (pid) => `${labels.get(pid)}: `),
  };
}

/** Ticks (1/100 s) grown between two maps, as % of one core over `wallS` seconds. */
function grown(before: Map<string, number>, after: Map<string, number>, wallS: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, ticks] of after) {
    const d = ticks - (before.get(name) ?? 0);
    if (d > 0) out.set(name, d / wallS); // ticks are 1/100 s: per second, that is % of a core
  }
  return out;
}

export function threadBreakdown(before: ThreadSnapshot, after: ThreadSnapshot, wallS: number): ThreadCpu {
  const own = new Map<string, number>();
  const people = after.own.length;
  after.own.forEach((a, i) => {
    for (const [name, pct] of grown(before.own[i]!, a, wallS))
      own.set(name, (own.get(name) ?? 0) + pct / people);
  });
  return { own, common: grown(before.common, after.common, wallS) };
}

/** Mean of several maps (a name missing from one counts 0 there). */
function mean(maps: Map<string, number>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v / maps.length);
  return out;
}

function rows(m: Map<string, number>, top: number): string {
  const sorted = [...m].sort((a, b) => b[1] - a[1]);
  const total = sorted.reduce((s, [, v]) => s + v, 0);
  const shown = sorted.slice(0, top).filter(([, v]) => v >= 0.5);
  const rest = total - shown.reduce((s, [, v]) => s + v, 0);
  return [
    ...shown.map(([k, v]) => `      ${v.toFixed(1).padStart(5)} %  ${k}`),
    `      ${rest.toFixed(1).padStart(5)} %  (other threads)`,
    `      ${total.toFixed(1).padStart(5)} %  in all`,
  ].join('\n');
}

/** The breakdown as lines: a person's own renderer by thread, then the common processes. */
export function threadTable(calls: ThreadCpu[], title: string): string {
  return [
    `  CPU per thread, ${title} (% of one core; over the measuring window):`,
    "    one person's own renderer (mean of the people in the call):",
    rows(mean(calls.map((c) => c.own)), 14),
    '    common processes (all people together):',
    rows(mean(calls.map((c) => c.common)), 12),
  ].join('\n');
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * Self time per function of a CDP Profiler profile (the main thread's JavaScript; native work
 * called from it, such as getStats or style recalculation forced by a script, is inside the
 * calling function; `(program)` is the thread's own work outside JavaScript: style, layout,
 * paint, tasks; `(idle)` is waiting).
 */
export function profileSummary(profile: unknown, title: string, top = 15): string {
  const p = profile as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!);
    if (!node) continue;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const where = url ? ` ${url.replace(/^.*\//, '')}:${lineNumber + 1}:${columnNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  }
  const wallMs = (p.endTime - p.startTime) / 1000;
  const idle = self.get('(idle)') ?? 0;
  const sorted = [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]);
  const busy = sorted.reduce((s, [, v]) => s + v, 0);
  return [
    `  CPU profile of the main thread, ${title}: busy ${busy.toFixed(0)} ms of ${wallMs.toFixed(0)} ms (${((busy / wallMs) * 100).toFixed(1)} %; idle ${idle.toFixed(0)} ms); self time by function:`,
    ...sorted
      .slice(0, top)
      .map(
        ([k, v]) =>
          `    ${v.toFixed(0).padStart(6)} ms ${((v / wallMs) * 100).toFixed(1).padStart(5)} %  ${k}`,
      ),
  ].join('\n');
}
