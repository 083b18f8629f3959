/**
 * `npm run bench:net`: calls over real networks, in the network lab of test/net/lab.ts
 * (namespaces, NAT routers, the Parley server on https/wss and coturn on the "public" side;
 * needs root, as the lab tests do). Guest pages in Chromium, each browser in its computer's
 * namespace; media is counted as frames the remote <video> presents.
 *
 * 1. Network change: Ana's laptop moves between two home routers (both NAT) mid-call, MOVES
 *    times (back and forth, one call). Recovery = from the move to remote video playing again
 *    on BOTH sides: per side, the first frame of the run of frames that ends the freeze (the
 *    last gap over 500 ms after the move, once video is steady again: 2 s of frames, none
 *    more than 500 ms apart); the later side counts. Beside it, in the same run: a bare page
 *    (getUserMedia + RTCPeerConnection with the same STUN/TURN servers, descriptions passed
 *    by the bench, nothing done on a network change; relay only, as otherwise a bare call does
 *    not survive its first second here: see docs/architecture.md, "When media stops"),
 *    BARE_MOVES moves, a new bare call each
 *    time, each watched for BARE_WAIT_S: it is not expected to recover; what its ICE state
 *    did is printed.
 * 2. Join → video: from the second guest's click on "Join call" (the first one waiting in the
 *    room) to the first remote frame on both sides; two guests behind symmetric NATs (a new
 *    port per destination) with the server's STUN and TURN, against the same with both
 *    browsers in one computer (the call's media on its loopback), JOINS calls each,
 *    alternated.
 * 3. Poor links, WINDOW_S seconds each once video is steady: a link with 75 ms each way (150 ms
 *    round trip) and 3% loss each way (the lab's TUN link), a line capped at 1 Mbit/s both
 *    ways (tbf), and the same TUN link clean (no delay, no loss) as the baseline: video frames
 *    decoded per second and the share of audio samples concealed (getStats), the worse of the
 *    two sides.
 *
 * Prints each run, medians, ratios to the baselines and the goals (recovery ≤ 5 s; join
 * through symmetric NATs ≤ 1.5 × loopback), and last one JSON line.
 * MOVES (default 10), BARE_MOVES (default 3), BARE_WAIT_S (default 15), JOINS (default 5),
 * WINDOW_S (default 10). PHASES (default "1,2,3"): which of the three to run. TIMELINE=1: for every move, what both pages' connections did
 * (selected pair, packets, frames decoded, keyframes, PLIs), sampled every 200 ms.
 */
import type { Page } from 'playwright-core';
import {
  COUNT_FRAMES,
  counters,
  frames,
  join,
  newLink,
  RECORD_CONNECTIONS,
  videoFlowing,
} from '../test/net/call-page.ts';
import { type Home, type Host, type LabBrowser, NetLab, SERVER_URL } from '../test/net/lab.ts';
import { median, sleep } from './lib/bench-process.ts';

const MOVES = Number(process.env.MOVES ?? 10);
const BARE_MOVES = Number(process.env.BARE_MOVES ?? 3);
const BARE_WAIT_MS = Number(process.env.BARE_WAIT_S ?? 15) * 1000;
const JOINS = Number(process.env.JOINS ?? 5);
const WINDOW_MS = Number(process.env.WINDOW_S ?? 10) * 1000;
const TIMELINE = process.env.TIMELINE === '1';
const PHASES = (process.env.PHASES ?? '1,2,3').split(',').map(Number);

/** tsx names functions with a __name helper that pages lack. */
const NAME_HELPER = 'globalThis.__name = (f) => f;';

let lab: NetLab | undefined;
const closeLab = async (code: number) => {
  await lab?.close();
  process.exit(code);
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void closeLab(130));

/**
 * Once more after a failed page load: on a loaded machine the guest page's load has failed now
 * and then (net::ERR_HTTP_RESPONSE_CODE_FAILURE, also seen by bench:mesh); the server's
 * warnings are printed.
 */
async function joinPage(browser: LabBrowser, link: string, name: string): Promise<Page> {
  try {
    return await join(browser, link, name);
  } catch (err) {
    const log = lab?.serverLog.filter((l) => /"level":(40|50)/.test(l)).slice(-5) ?? [];
    console.log(
      `  (${name}'s page failed to load, trying again: ${String(err).split('\n')[0]}; server: ${log.join(' ')})`,
    );
    await sleep(2000);
    return join(browser, link, name);
  }
}

async function browserIn(host: Host): Promise<LabBrowser> {
  if (!lab) throw new Error('no lab');
  const browser = await lab.launchBrowser(host);
  await browser.context.addInitScript({ content: NAME_HELPER });
  await browser.context.addInitScript(RECORD_CONNECTIONS);
  return browser;
}

/**
 * When video played again after `since` (the page's clock): the first frame after the last
 * gap over 500 ms (or after the longest gap, if none was that long), in ms after `since`.
 */
async function backAfter(page: Page, since: number): Promise<{ backMs: number; freezeMs: number }> {
  const { times } = await frames(page);
  let previous = since;
  let back = 0;
  let longest = { ms: 0, end: 0 };
  for (const t of times.filter((t) => t >= since)) {
    if (t - previous > 500) back = t - since;
    if (t - previous > longest.ms) longest = { ms: t - previous, end: t - since };
    previous = t;
  }
  return { backMs: Math.round(back || longest.end), freezeMs: Math.round(longest.ms) };
}

/** TIMELINE=1: every 200 ms, each connection's selected pair and inbound video counters. */
const SAMPLE_CONNECTIONS = `(async () => {
  const pcs = window.__pcs || [];
  const out = [];
  for (const pc of pcs) {
    if (pc.connectionState === 'closed') continue;
    const stats = await pc.getStats();
    let pair = '', packets = 0, decoded = 0, keys = 0, plis = 0, keysSent = 0;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const p = stats.get(s.selectedCandidatePairId);
        const l = p && stats.get(p.localCandidateId), r = p && stats.get(p.remoteCandidateId);
        pair = l && r ? l.candidateType + '>' + r.candidateType + ' ' + r.address : '?';
      }
      if (s.type === 'inbound-rtp' && s.kind === 'video') { packets += s.packetsReceived; decoded += s.framesDecoded; keys += s.keyFramesDecoded || 0; }
      if (s.type === 'outbound-rtp' && s.kind === 'video') { plis += s.pliCount || 0; keysSent += s.keyFramesEncoded || 0; }
    });
    out.push(pc.iceConnectionState + ' ' + pair + ' in:' + packets + '/' + decoded + ' dec/' + keys + ' key; out key ' + keysSent + ', pli ' + plis);
  }
  return out.join(' | ');
})()`;

function timeline(pages: Record<string, Page>): { stop(): Promise<string[]> } {
  const lines: string[] = [];
  const started = Date.now();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [name, page] of Object.entries(pages)) {
        const line = await page.evaluate(SAMPLE_CONNECTIONS).catch(() => 'gone');
        lines.push(`  +${String(Date.now() - started).padStart(5)} ms ${name}: ${line}`);
      }
      await sleep(200);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return lines;
    },
  };
}

/** 1. Parley: one call, MOVES network changes. */
async function parleyMoves(ana: { host: Host; browser: LabBrowser }, bruno: LabBrowser, homes: Home[]) {
  const link = newLink();
  const a = await joinPage(ana.browser, link, 'Ana');
  const b = await joinPage(bruno, link, 'Bruno');
  const results: { recoverMs: number | null; a: number; b: number; freezeA: number; freezeB: number }[] = [];
  try {
    await Promise.all([videoFlowing(a, 60_000), videoFlowing(b, 60_000)]);
    for (let i = 0; i < MOVES; i++) {
      await sleep(3000); // the call settles (and the 1 s stats samples see media again)
      const to = homes.find((h) => h !== ana.host.current);
      if (!to || !lab) throw new Error('nowhere to move');
      const [sinceA, sinceB] = await Promise.all([frames(a), frames(b)]).then((f) => f.map((x) => x.now));
      const watch = TIMELINE ? timeline({ Ana: a, Bruno: b }) : null;
      const movedAt = Date.now();
      await lab.moveHost(ana.host, to);
      const recovered = await Promise.all([
        videoFlowing(a, 45_000, sinceA ?? 0),
        videoFlowing(b, 45_000, sinceB ?? 0),
      ]).then(
        () => true,
        () => false,
      );
      const [backA, backB] = await Promise.all([backAfter(a, sinceA ?? 0), backAfter(b, sinceB ?? 0)]);
      const run = {
        recoverMs: recovered ? Math.max(backA.backMs, backB.backMs) : null,
        a: backA.backMs,
        b: backB.backMs,
        freezeA: backA.freezeMs,
        freezeB: backB.freezeMs,
      };
      results.push(run);
      console.log(
        `  move ${i + 1} (to ${to.name}): ${run.recoverMs === null ? 'NOT recovered within 45 s' : `video back on both sides after ${run.recoverMs} ms`} ` +
          `(Ana ${run.a} ms, Bruno ${run.b} ms; longest freeze Ana ${run.freezeA} ms, Bruno ${run.freezeB} ms; ${Date.now() - movedAt} ms to steady)`,
      );
      if (watch) console.log((await watch.stop()).join('\n'));
      if (!recovered) break;
    }
  } finally {
    await a.close().catch(() => {});
    await b.close().catch(() => {});
  }
  return results;
}

/** A bare call's page: the lab server's origin (a secure context), nothing of Parley running. */
async function barePage(browser: LabBrowser): Promise<Page> {
  const page = await browser.context.newPage();
  await page.goto(`${SERVER_URL}/bench-bare-call`).catch(() => {});
  await page.setContent(
    '<!doctype html><title>bare call</title><video class="parley-remote-video" autoplay muted playsinline></video>',
  );
  await page.evaluate(COUNT_FRAMES);
  return page;
}

/** Sets up a bare connection in the page (media from the fake devices); returns its offer or answer. */
async function bareDescribe(
  page: Page,
  iceServers: unknown,
  remote: unknown,
): Promise<RTCSessionDescriptionInit | undefined> {
  return page.evaluate(
    async ([iceServers, remote]) => {
      const w = window as unknown as { __bare: RTCPeerConnection; __states: string[] };
      if (!w.__bare) {
        const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
        const pc = new RTCPeerConnection({
          iceServers: iceServers as RTCIceServer[],
          iceTransportPolicy: 'relay',
        });
        w.__bare = pc;
        w.__states = [];
        pc.oniceconnectionstatechange = () => w.__states.push(pc.iceConnectionState);
        for (const t of stream.getTracks()) pc.addTrack(t, stream);
        pc.ontrack = (e) => {
          const v = document.querySelector('video');
          if (v && e.streams[0] && !v.srcObject) v.srcObject = e.streams[0];
        };
      }
      const pc = w.__bare;
      if (remote) await pc.setRemoteDescription(remote as RTCSessionDescriptionInit);
      if (pc.signalingState === 'stable' && remote) return pc.localDescription?.toJSON();
      await pc.setLocalDescription();
      // No trickling: the description goes once gathering is done (or after 5 s).
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.addEventListener(
          'icegatheringstatechange',
          () => pc.iceGatheringState === 'complete' && resolve(),
        );
        setTimeout(resolve, 5000);
      });
      return pc.localDescription?.toJSON();
    },
    [iceServers, remote] as const,
  );
}

/** 1, baseline: a bare call per move; does video come back within BARE_WAIT_MS? */
async function bareMoves(ana: { host: Host; browser: LabBrowser }, bruno: LabBrowser, homes: Home[]) {
  const results: { back: boolean; states: string[]; framesAfter: number }[] = [];
  for (let i = 0; i < BARE_MOVES; i++) {
    if (!lab) throw new Error('no lab');
    const a = await barePage(ana.browser);
    const b = await barePage(bruno);
    try {
      const iceServers = lab.iceServers();
      const offer = await bareDescribe(a, iceServers, null);
      const answer = await bareDescribe(b, iceServers, offer);
      await bareDescribe(a, iceServers, answer);
      await Promise.all([videoFlowing(a, 60_000), videoFlowing(b, 60_000)]);
      await sleep(3000);
      const [sinceA, sinceB] = await Promise.all([frames(a), frames(b)]).then((f) => f.map((x) => x.now));
      const to = homes.find((h) => h !== ana.host.current);
      if (!to) throw new Error('nowhere to move');
      await lab.moveHost(ana.host, to);
      const back = await Promise.all([
        videoFlowing(a, BARE_WAIT_MS, sinceA ?? 0),
        videoFlowing(b, BARE_WAIT_MS, sinceB ?? 0),
      ]).then(
        () => true,
        () => false,
      );
      const after = await Promise.all([frames(a), frames(b)]);
      const framesAfter = Math.min(
        ...after.map(
          (f, side) => f.times.filter((t) => t > (side ? (sinceB ?? 0) : (sinceA ?? 0)) + 1000).length,
        ),
      );
      const states = await a.evaluate(() => (window as unknown as { __states: string[] }).__states);
      results.push({ back, states, framesAfter });
      console.log(
        `  bare move ${i + 1} (to ${to.name}): ${back ? 'video back' : `no video within ${BARE_WAIT_MS / 1000} s`}; ` +
          `frames shown from 1 s after the move (fewer side): ${framesAfter}; Ana's ICE: ${states.join(' → ')}`,
      );
    } finally {
      await a.close().catch(() => {});
      await b.close().catch(() => {});
    }
  }
  return results;
}

/** 2. From the second guest's "Join call" to the first remote frame on both sides (ms). */
async function joinToVideo(first: LabBrowser, second: LabBrowser): Promise<number> {
  const link = newLink();
  const a = await joinPage(first, link, 'Ana');
  try {
    await a.getByText('Waiting for someone to join').first().waitFor({ timeout: 60_000 });
    const b = await second.context.newPage();
    try {
      await b.goto(link);
      await b.evaluate(COUNT_FRAMES);
      await b.getByRole('textbox', { name: 'Your name' }).fill('Bruno');
      const clickedAt = Date.now();
      await b.getByRole('button', { name: 'Join call' }).click();
      const firstFrame = (page: Page) =>
        page
          .waitForFunction(
            () => {
              const t = (window as unknown as { __frames: number[] }).__frames[0];
              return t === undefined ? false : performance.timeOrigin + t;
            },
            undefined,
            { timeout: 60_000, polling: 50 },
          )
          .then((h) => h.jsonValue() as Promise<number>);
      const [fa, fb] = await Promise.all([firstFrame(a), firstFrame(b)]);
      return Math.round(Math.max(fa, fb) - clickedAt);
    } finally {
      await b.close().catch(() => {});
    }
  } finally {
    await a.close().catch(() => {});
  }
}

/** 3. Once video is steady, over WINDOW_MS: decoded fps and concealed share, the worse side. */
async function poorLink(mine: LabBrowser, theirs: LabBrowser) {
  const link = newLink();
  const a = await joinPage(mine, link, 'Ana');
  const b = await joinPage(theirs, link, 'Bruno');
  try {
    await Promise.all([videoFlowing(a, 90_000), videoFlowing(b, 90_000)]);
    const before = await Promise.all([counters(a), counters(b)]);
    await sleep(WINDOW_MS);
    const after = await Promise.all([counters(a), counters(b)]);
    const sides = after.map((x, i) => {
      const y = before[i];
      if (!y) throw new Error('no counters');
      const samples = x.samples - y.samples;
      return {
        fps: (x.framesDecoded - y.framesDecoded) / ((x.at - y.at) / 1000),
        concealed: samples > 0 ? (x.concealed - y.concealed) / samples : 1,
      };
    });
    return {
      fps: Math.min(...sides.map((s) => s.fps)),
      concealed: Math.max(...sides.map((s) => s.concealed)),
      sides: sides.map((s) => ({ fps: round(s.fps, 1), concealed: round(s.concealed, 4) })),
    };
  } finally {
    await a.close().catch(() => {});
    await b.close().catch(() => {});
  }
}

const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

try {
  lab = await NetLab.create();
  const cafe = await lab.addHome('cafe', { kind: 'nat' });
  const office = await lab.addHome('office', { kind: 'nat' });
  const brunoHome = await lab.addHome('brunohome', { kind: 'nat' });
  await lab.startServices();
  const bruno = await browserIn(await lab.addHost('bruno', [brunoHome]));
  const figures: Record<string, number | null> = {};

  if (PHASES.includes(1)) {
    console.log(`1. network change, Parley (${MOVES} moves in one call):`);
    const laptop = await lab.addHost('ana', [cafe, office]);
    const ana = { host: laptop, browser: await browserIn(laptop) };
    const moves = await parleyMoves(ana, bruno, [cafe, office]);
    console.log(`1. network change, bare page (${BARE_MOVES} calls, one move each):`);
    const bare = await bareMoves(ana, bruno, [cafe, office]);
    await ana.browser.close();
    const recovered = moves.map((m) => m.recoverMs).filter((m): m is number => m !== null);
    figures.recover_ms = recovered.length === moves.length ? median(recovered) : null;
    console.log(
      `network change → video on both sides: median ${figures.recover_ms ?? 'n/a'} ms of ${moves.length} ` +
        `(${recovered.length} recovered; best ${Math.min(...recovered)} ms, worst ${Math.max(...recovered)} ms; ` +
        `goal ≤ 5000 ms: ${figures.recover_ms !== null && figures.recover_ms <= 5000 ? 'met' : 'NOT met'}); ` +
        `bare page: video back in ${bare.filter((r) => r.back).length} of ${bare.length} calls within ${BARE_WAIT_MS / 1000} s`,
    );
  }

  if (PHASES.includes(2)) {
    console.log(`2. join → video (${JOINS} calls each, alternated):`);
    const symA = await lab.addHome('symA', { kind: 'symmetric' });
    const symB = await lab.addHome('symB', { kind: 'symmetric' });
    const sym = [
      await browserIn(await lab.addHost('symhostA', [symA])),
      await browserIn(await lab.addHost('symhostB', [symB])),
    ];
    const loopHost = await lab.addHost('loop', [brunoHome]);
    const loop = [await browserIn(loopHost), await browserIn(loopHost)];
    const joins = { turn: [] as number[], loopback: [] as number[] };
    for (let i = 0; i < JOINS; i++) {
      const t = await joinToVideo(sym[0] as LabBrowser, sym[1] as LabBrowser);
      const l = await joinToVideo(loop[0] as LabBrowser, loop[1] as LabBrowser);
      joins.turn.push(t);
      joins.loopback.push(l);
      console.log(`  call ${i + 1}: symmetric NATs + TURN ${t} ms, loopback ${l} ms`);
    }
    for (const b of [...sym, ...loop]) await b.close();
    const turnMs = median(joins.turn);
    const loopMs = median(joins.loopback);
    figures.turn_join_to_video_ms = turnMs;
    figures.loopback_join_to_video_ms = loopMs;
    console.log(
      `join → video: symmetric NATs + TURN median ${turnMs} ms, loopback ${loopMs} ms: ${round(turnMs / loopMs, 2)}x (goal ≤ 1.5x: ${turnMs / loopMs <= 1.5 ? 'met' : 'NOT met'})`,
    );
  }

  if (PHASES.includes(3)) {
    console.log(`3. poor links (${WINDOW_MS / 1000} s windows once video is steady; the worse side):`);
    const lossy = await lab.addHome('lossy', { kind: 'nat' });
    const slow = await lab.addHome('slow', { kind: 'nat', rateKbit: 1000 });
    const overTun = await lab.addHostOverTun('lossyhost', lossy);
    const tunBrowser = await browserIn(overTun.host);
    const slowBrowser = await browserIn(await lab.addHost('slowhost', [slow]));
    await overTun.link.set({ delayMs: 0, jitterMs: 0, loss: 0 });
    const clean = await poorLink(tunBrowser, bruno);
    console.log(`  clean TUN link: ${JSON.stringify(clean)}`);
    await overTun.link.set({ delayMs: 75, jitterMs: 0, loss: 0.03 });
    const loss = await poorLink(tunBrowser, bruno);
    console.log(`  150 ms round trip, 3% loss: ${JSON.stringify(loss)}`);
    const mbit = await poorLink(slowBrowser, bruno);
    console.log(`  1 Mbit/s: ${JSON.stringify(mbit)}`);
    figures.fps_150ms_loss3 = round(loss.fps, 1);
    figures.concealed_ratio_150ms_loss3 = round(loss.concealed, 4);
    figures.fps_1mbit = round(mbit.fps, 1);
    console.log(
      `150 ms / 3% loss: ${round(loss.fps, 1)} fps (${round(loss.fps / clean.fps, 2)}x clean), concealed ${round(loss.concealed, 3)} (clean ${round(clean.concealed, 3)}); ` +
        `1 Mbit/s: ${round(mbit.fps, 1)} fps (${round(mbit.fps / clean.fps, 2)}x clean), concealed ${round(mbit.concealed, 3)}`,
    );
  }

  console.log(
    JSON.stringify({
      bench: 'net',
      recover_ms: figures.recover_ms ?? null,
      turn_join_to_video_ms: figures.turn_join_to_video_ms ?? null,
      loopback_join_to_video_ms: figures.loopback_join_to_video_ms ?? null,
      fps_150ms_loss3: figures.fps_150ms_loss3 ?? null,
      concealed_ratio_150ms_loss3: figures.concealed_ratio_150ms_loss3 ?? null,
      fps_1mbit: figures.fps_1mbit ?? null,
    }),
  );
  await closeLab(0);
} catch (err) {
  console.error(err);
  await closeLab(1);
}
