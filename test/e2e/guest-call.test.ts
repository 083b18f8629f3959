/**
 * Two people on the guest page (two separate Chromium profiles with fake camera and mic),
 * through the real signaling server: they see and hear each other, see each other's mute
 * and camera state, and hanging up ends both sides with every track stopped. Audio-only
 * calls never ask for a camera. A signaling server that swaps DTLS fingerprints (a man in
 * the middle) or a joiner without the link secret ends in "Call not verified". A first
 * connection whose ICE candidates were all lost restarts ICE by itself and connects.
 */
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { formatShareLink, newShareLink, randomBase64Url } from '../../src/protocol/link.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  type BrowserUser,
  collectConsoleErrors,
  expectVideoPlaying,
  launchBrowser,
  readClipboard,
  screenshot,
} from './harness.ts';

/** Records every getUserMedia request and track, and every peer connection, in the page. */
const INSTRUMENT = () => {
  const w = window as unknown as {
    __gum: { calls: MediaStreamConstraints[]; tracks: MediaStreamTrack[] };
    __pcs: RTCPeerConnection[];
  };
  w.__gum = { calls: [], tracks: [] };
  w.__pcs = [];
  const md = navigator.mediaDevices;
  const original = md.getUserMedia.bind(md);
  md.getUserMedia = async (constraints?: MediaStreamConstraints) => {
    w.__gum.calls.push(JSON.parse(JSON.stringify(constraints ?? {})));
    const stream = await original(constraints);
    w.__gum.tracks.push(...stream.getTracks());
    return stream;
  };
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      w.__pcs.push(this);
    }
  } as typeof RTCPeerConnection;
};

let server: ServerHandle;
let alice: BrowserUser;
let bob: BrowserUser;

beforeAll(async () => {
  server = await startServer({ ROOM_CAPACITY: '2' });
  [alice, bob] = await Promise.all([
    launchBrowser({ extension: false }),
    launchBrowser({ extension: false }),
  ]);
  for (const user of [alice, bob]) await user.context.addInitScript(INSTRUMENT);
});

afterAll(async () => {
  await Promise.all([alice?.close(), bob?.close()]);
  await server?.stop();
});

async function join(context: BrowserContext, url: string, name: string, options: { camera?: boolean } = {}) {
  const page = await context.newPage();
  const errors = collectConsoleErrors(page);
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Your name' }).fill(name);
  if (options.camera === false) await page.getByRole('checkbox', { name: 'Join with camera' }).uncheck();
  await page.getByRole('button', { name: 'Join call' }).click();
  return { page, errors };
}

/** Highest remote audio level seen in inbound-rtp stats within a few seconds. */
async function remoteAudioLevel(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs;
    let best = 0;
    for (let i = 0; i < 30 && best === 0; i++) {
      for (const pc of pcs) {
        const stats = await pc.getStats();
        stats.forEach((s: { type: string; kind?: string; audioLevel?: number }) => {
          if (s.type === 'inbound-rtp' && s.kind === 'audio') best = Math.max(best, s.audioLevel ?? 0);
        });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return best;
  });
}

/** Resolves after the remote video delivers a few new frames. */
/** How many of the page's peer connections are not closed (unused prepared offers are). */
function liveConnections(page: Page): Promise<number> {
  return page.evaluate(
    () =>
      (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.filter(
        (pc) => pc.signalingState !== 'closed',
      ).length,
  );
}

async function framesAdvance(page: Page): Promise<boolean> {
  return page.evaluate(
    () =>
      new Promise<boolean>((resolve) => {
        const v = document.querySelector('.parley-remote-video') as HTMLVideoElement;
        let n = 0;
        const tick = () => {
          if (++n >= 3) resolve(true);
          else v.requestVideoFrameCallback(tick);
        };
        v.requestVideoFrameCallback(tick);
      }),
  );
}

const allTracksEnded = (page: Page) =>
  page.evaluate(() => {
    const { tracks } = (window as unknown as { __gum: { tracks: MediaStreamTrack[] } }).__gum;
    return tracks.length > 0 && tracks.every((t) => t.readyState === 'ended');
  });

describe('a call between two guest pages', () => {
  test('both see and hear each other; mute and camera-off show on the other side; hang up ends both', async () => {
    const url = formatShareLink(newShareLink(server.url));
    const a = await join(alice.context, url, 'Ana');
    await a.page.getByText('Waiting for someone to join').waitFor();
    await expect.poll(() => a.page.getByText(url, { exact: true }).isVisible()).toBe(true);
    const b = await join(bob.context, url, 'Bruno');

    // Video playing both ways, frames advancing; audio arriving both ways.
    await Promise.all([
      expectVideoPlaying(a.page, '.parley-remote-video'),
      expectVideoPlaying(b.page, '.parley-remote-video'),
    ]);
    expect(await framesAdvance(a.page)).toBe(true);
    expect(await framesAdvance(b.page)).toBe(true);
    expect(await remoteAudioLevel(a.page)).toBeGreaterThan(0);
    expect(await remoteAudioLevel(b.page)).toBeGreaterThan(0);

    // Names, timer and quality indicator.
    await b.page.locator('.parley-tile-name', { hasText: 'Ana' }).waitFor();
    await a.page.locator('.parley-tile-name', { hasText: 'Bruno' }).waitFor();
    await a.page.getByRole('img', { name: /^Connection (good|fair|poor)/ }).waitFor();
    await expect.poll(() => a.page.getByRole('timer').textContent()).toMatch(/^0:\d\d$/);
    // The local preview is muted (no echo of one's own mic).
    expect(await a.page.locator('.parley-local-video').evaluate((v: HTMLVideoElement) => v.muted)).toBe(true);
    await screenshot(a.page, 'guest-call-connected');

    // Mute: the button flips, the other side is told.
    await a.page.getByRole('button', { name: 'Mute microphone' }).click();
    await expect
      .poll(() => a.page.getByRole('button', { name: 'Unmute microphone' }).getAttribute('aria-pressed'))
      .toBe('true');
    await b.page.getByText('Ana is muted').waitFor();
    await a.page.getByRole('button', { name: 'Unmute microphone' }).click();
    await b.page.getByText('Ana is muted').waitFor({ state: 'detached' });

    // Camera off: the camera track stops (light off) and the other side says so; back on.
    await a.page.getByRole('button', { name: 'Turn camera off' }).click();
    await b.page.getByText("Ana's camera is off").waitFor();
    expect(
      await a.page.evaluate(() =>
        (window as unknown as { __gum: { tracks: MediaStreamTrack[] } }).__gum.tracks
          .filter((t) => t.kind === 'video')
          .every((t) => t.readyState === 'ended'),
      ),
    ).toBe(true);
    await a.page.getByRole('button', { name: 'Turn camera on' }).click();
    await b.page.getByText("Ana's camera is off").waitFor({ state: 'detached' });
    expect(await framesAdvance(b.page)).toBe(true);

    // Copy link puts the share link on the clipboard.
    await b.page.getByRole('button', { name: 'Copy link' }).click();
    await b.page.getByText('Link copied').waitFor();
    expect(await readClipboard(b.page)).toBe(url);

    // Hang up ends both sides, and every track either side opened is stopped.
    await a.page.getByRole('button', { name: 'Hang up' }).click();
    await a.page.getByRole('heading', { name: 'Call ended' }).waitFor();
    await b.page.getByRole('heading', { name: 'Call ended' }).waitFor();
    await b.page.getByText('Ana hung up.').waitFor();
    expect(await allTracksEnded(a.page)).toBe(true);
    expect(await allTracksEnded(b.page)).toBe(true);
    await screenshot(b.page, 'guest-call-ended');
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
    await Promise.all([a.page.close(), b.page.close()]);
  });

  test('an audio-only call asks neither side for a camera and never plays the local mic back', async () => {
    const link = newShareLink(server.url);
    const url = `${link.server}/r/${link.room}?media=audio#${link.secret}`;
    const a = await join(alice.context, url, 'Ana');
    await a.page.getByText('Waiting for someone to join').waitFor();
    const b = await join(bob.context, url, 'Bruno');
    for (const page of [a.page, b.page]) {
      await page.getByRole('img', { name: /^Connection (good|fair|poor)/ }).waitFor();
      expect(await remoteAudioLevel(page)).toBeGreaterThan(0);
      expect(await page.getByRole('button', { name: /camera/i }).count()).toBe(0);
      const check = await page.evaluate(() => {
        const { calls, tracks } = (
          window as unknown as { __gum: { calls: MediaStreamConstraints[]; tracks: MediaStreamTrack[] } }
        ).__gum;
        const localIds = new Set(tracks.map((t) => t.id));
        const playsLocal = [...document.querySelectorAll('audio, video')].some((m) =>
          ((m as HTMLMediaElement).srcObject as MediaStream | null)
            ?.getTracks()
            .some((t) => localIds.has(t.id)),
        );
        const pcs = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs;
        return {
          calls: calls.length,
          videoRequested: calls.some((c) => c.video),
          videoTracks: tracks.filter((t) => t.kind === 'video').length,
          playsLocal,
          sendsVideo: pcs.some((pc) => pc.getSenders().some((s) => s.track?.kind === 'video')),
          remoteAudioElements: document.querySelectorAll('audio.parley-remote-audio').length,
        };
      });
      expect(check).toEqual({
        calls: 1,
        videoRequested: false,
        videoTracks: 0,
        playsLocal: false,
        sendsVideo: false,
        remoteAudioElements: 1,
      });
    }
    await b.page.getByRole('button', { name: 'Hang up' }).click();
    await a.page.getByText('Bruno hung up.').waitFor();
    expect(await allTracksEnded(a.page)).toBe(true);
    expect(await allTracksEnded(b.page)).toBe(true);
    await Promise.all([a.page.close(), b.page.close()]);
  });
});

describe('when something is missing or refused', () => {
  test('a blocked camera offers to continue with audio only, and the call goes on without video', async () => {
    const page = await alice.context.newPage();
    await page.addInitScript(() => {
      const md = navigator.mediaDevices;
      const original = md.getUserMedia.bind(md);
      md.getUserMedia = (constraints?: MediaStreamConstraints) =>
        constraints?.video
          ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
          : original(constraints);
    });
    await page.goto(formatShareLink(newShareLink(server.url)));
    await page.getByRole('button', { name: 'Join call' }).click();
    await page.getByText(/^Camera and microphone are blocked for this page/).waitFor();
    await page.getByRole('button', { name: 'Continue with audio only' }).click();
    await page.getByText('Waiting for someone to join').waitFor();
    await page.getByRole('button', { name: 'Turn camera on' }).waitFor();
    await page.getByRole('button', { name: 'Hang up' }).click();
    await page.close();
  });

  test('a browser without WebRTC gets one clear sentence instead of a join button', async () => {
    const page = await alice.context.newPage();
    await page.addInitScript(() => {
      // biome-ignore lint/suspicious/noExplicitAny: simulating an old browser
      delete (window as any).RTCPeerConnection;
    });
    await page.goto(formatShareLink(newShareLink(server.url)));
    await page.getByText(/^This browser cannot make calls/).waitFor();
    expect(await page.getByRole('button', { name: 'Join call' }).count()).toBe(0);
    await page.close();
  });

  test('a third person opening a two-person link is told the call is full', async () => {
    const url = formatShareLink(newShareLink(server.url));
    const a = await join(alice.context, url, 'Ana', { camera: false });
    await a.page.getByText('Waiting for someone to join').waitFor();
    const b = await join(bob.context, url, 'Bruno', { camera: false });
    await a.page.getByRole('img', { name: /^Connection (good|fair|poor)/ }).waitFor();
    const c = await join(alice.context, url, 'Carla', { camera: false });
    await c.page.getByRole('heading', { name: 'This call is full' }).waitFor();
    expect(await allTracksEnded(c.page)).toBe(true);
    // The two people in the call are not disturbed.
    expect(await a.page.getByRole('heading', { name: /Call ended|Connection lost/ }).count()).toBe(0);
    await Promise.all([a.page.close(), b.page.close(), c.page.close()]);
  });
});

describe('when the signaling server goes away', () => {
  test('a server restart mid-call: the call keeps playing, signaling recovers, and an ICE restart still gets through', async () => {
    const url = formatShareLink(newShareLink(server.url));
    const a = await join(alice.context, url, 'Ana');
    await a.page.getByText('Waiting for someone to join').waitFor();
    const b = await join(bob.context, url, 'Bruno');
    await Promise.all([
      expectVideoPlaying(a.page, '.parley-remote-video'),
      expectVideoPlaying(b.page, '.parley-remote-video'),
    ]);

    await server.stop();
    await a.page.getByText('Reconnecting to the call server…').waitFor();
    // Media is peer to peer: it keeps flowing without the server.
    expect(await framesAdvance(a.page)).toBe(true);
    expect(await framesAdvance(b.page)).toBe(true);

    server = await startServer({ PORT: String(server.port) });
    await a.page
      .getByText('Reconnecting to the call server…')
      .waitFor({ state: 'detached', timeout: 20_000 });
    await b.page
      .getByText('Reconnecting to the call server…')
      .waitFor({ state: 'detached', timeout: 20_000 });

    // The server gave both new ids; an ICE restart from Ana must still reach Bruno's same
    // connection (new ICE credentials on his side), with no second connection made.
    const ufrag = (page: Page) =>
      page.evaluate(() => {
        // The live one: the page also made an offer ahead of time that went unused (closed).
        const pc = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.find(
          (p) => p.signalingState !== 'closed',
        );
        return /a=ice-ufrag:(\S+)/.exec(pc?.remoteDescription?.sdp ?? '')?.[1] ?? null;
      });
    const before = await ufrag(b.page);
    await a.page.evaluate(() =>
      (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs
        .find((p) => p.signalingState !== 'closed')
        ?.restartIce(),
    );
    await expect.poll(() => ufrag(b.page), { timeout: 20_000 }).not.toBe(before);
    for (const page of [a.page, b.page]) {
      expect(await liveConnections(page)).toBe(1);
      expect(await page.locator('.parley-tile').count()).toBe(1);
    }
    expect(await framesAdvance(b.page)).toBe(true);
    await a.page.getByRole('button', { name: 'Hang up' }).click();
    await b.page.getByText('Ana hung up.').waitFor();
    await Promise.all([a.page.close(), b.page.close()]);
  });
});

/**
 * For Bruno's page: for its first 8 seconds, no ICE candidate gets anywhere (his are not sent,
 * Ana's are neither added nor kept in her description), as when candidates are lost on the
 * way or the network changed under the gathering: signaling completes, ICE has nothing to
 * check, and browsers leave such a connection "checking" indefinitely.
 */
const CANDIDATES_LOST_AT_FIRST = `(() => {
  const until = performance.now() + 8000;
  const lost = () => performance.now() < until;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (lost() && typeof data === 'string' && data.includes('"kind":"candidate"')) return;
    return send.call(this, data);
  };
  const proto = RTCPeerConnection.prototype;
  const setRemote = proto.setRemoteDescription;
  proto.setRemoteDescription = function (description) {
    if (lost() && description && description.sdp) {
      const sdp = description.sdp.replace(/^a=candidate:.*\\r\\n/gm, '');
      return setRemote.call(this, { type: description.type, sdp });
    }
    return setRemote.call(this, description);
  };
  const addCandidate = proto.addIceCandidate;
  proto.addIceCandidate = function (candidate) {
    return lost() ? Promise.resolve() : addCandidate.call(this, candidate);
  };
})()`;

describe('when the first connection attempt gets nowhere', () => {
  test('a call whose candidates were all lost restarts ICE by itself and connects', async () => {
    const url = formatShareLink(newShareLink(server.url));
    const a = await join(alice.context, url, 'Ana');
    await a.page.getByText('Waiting for someone to join').waitFor();
    const page = await bob.context.newPage();
    await page.addInitScript(CANDIDATES_LOST_AT_FIRST);
    await page.goto(url);
    await page.getByRole('textbox', { name: 'Your name' }).fill('Bruno');
    await page.getByRole('button', { name: 'Join call' }).click();
    const joinedAt = Date.now();
    // The join card stays while the connection is being made ("Joining…"); past 700 ms
    // without a connection the call screen shows and says so.
    await page.getByRole('button', { name: 'Joining…' }).waitFor({ timeout: 600 });
    expect(await page.getByRole('button', { name: 'Hang up' }).isVisible()).toBe(false);
    // Stuck as long as the candidates are lost: both still say "Connecting…".
    await page.waitForTimeout(6000);
    expect(await a.page.getByText('Connecting…').isVisible()).toBe(true);
    expect(await page.getByText('Connecting…').isVisible()).toBe(true);
    // Then the side that acts first restarts ICE (10 s, or 15 s for the polite side) and the
    // call connects, on the same connection (no second one, no end screen).
    await Promise.all([
      expectVideoPlaying(a.page, '.parley-remote-video', 25_000),
      expectVideoPlaying(page, '.parley-remote-video', 25_000),
    ]);
    const seconds = (Date.now() - joinedAt) / 1000;
    console.log(`candidates lost at first: connected ${seconds.toFixed(1)} s after joining`);
    expect(seconds).toBeGreaterThan(8);
    for (const p of [a.page, page]) {
      expect(await liveConnections(p)).toBe(1);
    }
    await a.page.getByRole('button', { name: 'Hang up' }).click();
    await page.getByText('Ana hung up.').waitFor();
    await Promise.all([a.page.close(), page.close()]);
  });
});

describe('when the other side vanishes', () => {
  test('closing the tab ends the call on the other side with a clear state', async () => {
    const url = formatShareLink(newShareLink(server.url));
    const a = await join(alice.context, url, 'Ana', { camera: false });
    await a.page.getByText('Waiting for someone to join').waitFor();
    const b = await join(bob.context, url, 'Bruno', { camera: false });
    await a.page.getByRole('img', { name: /^Connection (good|fair|poor)/ }).waitFor();
    await b.page.close({ runBeforeUnload: true });
    await a.page.getByRole('heading', { name: /^(Call ended|Connection lost)$/ }).waitFor();
    await a.page.getByRole('button', { name: 'Close' }).click();
    await a.page.getByText('You left the call. You can close this tab.').waitFor();
    expect(await allTracksEnded(a.page)).toBe(true);
    await a.page.close();
  });
});

/**
 * A hostile signaling server: serves the real guest page and relays the real server's
 * WebSocket, but rewrites the DTLS fingerprints in every SDP it relays, as a man in the
 * middle would to terminate each side's DTLS itself.
 */
async function startTamperingRelay(
  upstream: string,
): Promise<{ url: string; tampered: () => number; close(): Promise<void> }> {
  let tampered = 0;
  const http: Server = createServer((req, res) => {
    const up = request(`${upstream}${req.url ?? '/'}`, { method: req.method }, (upRes) => {
      const type = upRes.headers['content-type'];
      res.writeHead(upRes.statusCode ?? 502, type ? { 'content-type': type } : {});
      upRes.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    up.end();
  });
  const wss = new WebSocketServer({ server: http, path: '/ws' });
  const evil = Array.from({ length: 32 }, () => 'EE').join(':');
  wss.on('connection', (client) => {
    const target = new WebSocket(`${upstream.replace(/^http/, 'ws')}/ws`, { origin: upstream });
    const pending: string[] = [];
    target.on('open', () => {
      for (const m of pending.splice(0)) target.send(m);
    });
    client.on('message', (raw) => {
      let text = raw.toString();
      const message = JSON.parse(text);
      // Offers relayed, and the offer parked for the next joiner (`park`) alike.
      if ((message.type === 'signal' || message.type === 'park') && message.data?.kind === 'description') {
        message.data.description.sdp = message.data.description.sdp.replace(
          /a=fingerprint:sha-256 [0-9A-F:]+/g,
          `a=fingerprint:sha-256 ${evil}`,
        );
        tampered++;
        text = JSON.stringify(message);
      }
      if (target.readyState === WebSocket.OPEN) target.send(text);
      else pending.push(text);
    });
    target.on('message', (raw) => client.send(raw.toString()));
    client.on('close', () => target.close());
    target.on('close', () => client.close());
    target.on('error', () => client.close());
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tampered: () => tampered,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

describe('verified by default', () => {
  test('a signaling server that swaps the DTLS fingerprints is caught: "Call not verified", no connection', async () => {
    const relay = await startTamperingRelay(server.url);
    try {
      const url = formatShareLink(newShareLink(relay.url));
      const a = await join(alice.context, url, 'Ana');
      await a.page.getByText('Waiting for someone to join').waitFor();
      const b = await join(bob.context, url, 'Bruno');
      // Ana, already there, offers; Bruno receives her offer with the fingerprints swapped.
      await b.page.getByRole('heading', { name: 'Call not verified' }).waitFor();
      await b.page.getByText('This call could not be verified: the connection may be intercepted.').waitFor();
      expect(relay.tampered()).toBeGreaterThan(0);
      await screenshot(b.page, 'guest-call-unverified');
      for (const page of [a.page, b.page]) {
        const states = await page.evaluate(() =>
          (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.map((pc) => pc.connectionState),
        );
        expect(states).not.toContain('connected');
      }
      expect(await allTracksEnded(b.page)).toBe(true);
      await Promise.all([a.page.close(), b.page.close()]);
    } finally {
      await relay.close();
    }
  });

  test('someone who has the room but not the link secret cannot join the call', async () => {
    const link = newShareLink(server.url);
    const a = await join(alice.context, formatShareLink(link), 'Ana');
    await a.page.getByText('Waiting for someone to join').waitFor();
    const b = await join(bob.context, formatShareLink({ ...link, secret: randomBase64Url(16) }), 'Mallory');
    // Ana's offer cannot be verified without the secret: Mallory gets no call...
    await b.page.getByRole('heading', { name: 'Call not verified' }).waitFor();
    expect(await allTracksEnded(b.page)).toBe(true);
    // ...and Ana, who never connected to her, is still in her call, waiting for the right person.
    const anaStates = await a.page.evaluate(() =>
      (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.map((pc) => pc.connectionState),
    );
    expect(anaStates).not.toContain('connected');
    expect(await a.page.getByRole('button', { name: 'Hang up' }).isVisible()).toBe(true);
    await a.page.getByText('Waiting for someone to join').waitFor({ timeout: 20_000 });
    await Promise.all([a.page.close(), b.page.close()]);
  });
});
