/**
 * TURN for people behind restrictive networks: the credentials our server hands out are
 * accepted by a real coturn (`turnserver`, use-auth-secret), and Chromium relays a data
 * channel through it; tampered credentials get no relay at all.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { newShareLink } from '../../src/protocol/link.ts';
import type { IceServer } from '../../src/protocol/signaling.ts';
import { freePort, type ServerHandle, startServer } from '../helpers/server-process.ts';
import { type BrowserUser, launchBrowser } from './harness.ts';

const SECRET = 'turn-test-shared-secret';
let turn: ChildProcess;
let turnLogs = '';
let server: ServerHandle;
let user: BrowserUser;

function requireTurnserver(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v turnserver']).toString().trim();
  } catch {
    throw new Error('coturn is not installed: run `sudo apt-get install coturn` (it provides `turnserver`).');
  }
}

beforeAll(async () => {
  const bin = requireTurnserver();
  const port = await freePort();
  turn = spawn(
    bin,
    [
      '-n',
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${port}`,
      '--min-port=49160',
      '--max-port=49400',
      '--use-auth-secret',
      `--static-auth-secret=${SECRET}`,
      '--realm=parley.test',
      '--no-tls',
      '--no-dtls',
      '--no-tcp-relay',
      '--allow-loopback-peers',
      '--no-cli',
      '--log-file=stdout',
      '--simple-log',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  turn.stdout?.on('data', (d) => {
    turnLogs += String(d);
  });
  turn.stderr?.on('data', (d) => {
    turnLogs += String(d);
  });
  const deadline = Date.now() + 10_000;
  while (!(await stunAnswers(port))) {
    if (Date.now() > deadline || turn.exitCode !== null)
      throw new Error(`turnserver did not start:\n${turnLogs}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  server = await startServer({ TURN_URLS: `turn:127.0.0.1:${port}?transport=udp`, TURN_SECRET: SECRET });
  user = await launchBrowser();
});

afterAll(async () => {
  await user?.close();
  await server?.stop();
  turn?.kill('SIGTERM');
});

/** A STUN binding request to the TURN port: true once it answers. */
async function stunAnswers(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0); // Binding request
  request.writeUInt32BE(0x2112a442, 4); // magic cookie
  randomFillSync(request, 8, 12);
  try {
    return await new Promise<boolean>((resolve) => {
      socket.once('message', (msg) => resolve(msg.readUInt16BE(0) === 0x0101));
      socket.once('error', () => resolve(false));
      setTimeout(() => resolve(false), 300);
      socket.send(request, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function iceServersFromServer(): Promise<IceServer[]> {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { origin: server.url } });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ v: 1, type: 'join', room: newShareLink(server.url).room }));
  const joined = await new Promise<{ iceServers: IceServer[] }>((resolve) =>
    ws.once('message', (data) => resolve(JSON.parse(String(data)))),
  );
  ws.close();
  return joined.iceServers;
}

/** Two connections in one page, relay-only; returns the candidate type each side used (or an error). */
async function relayOnlyDataChannel(servers: IceServer[]) {
  {
    const config: RTCConfiguration = { iceServers: servers, iceTransportPolicy: 'relay' };
    const a = new RTCPeerConnection(config);
    const b = new RTCPeerConnection(config);
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    const channel = a.createDataChannel('probe');
    const received = new Promise<string>((resolve) => {
      b.ondatachannel = (e) => {
        e.channel.onmessage = (m) => resolve(String(m.data));
      };
    });
    channel.onopen = () => channel.send('through the relay');
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription!);
    const outcome = await Promise.race([
      received,
      new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 8000)),
    ]);
    // The candidate pair the transport selected (stats can lag the first message a little).
    let localType = 'none';
    for (let i = 0; i < 40 && localType === 'none'; i++) {
      const stats = await a.getStats();
      stats.forEach((s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = stats.get(s.selectedCandidatePairId);
        const local = pair ? stats.get(pair.localCandidateId) : undefined;
        if (local) localType = local.candidateType ?? 'unknown';
      });
      if (localType === 'none') await new Promise((r) => setTimeout(r, 50));
    }
    a.close();
    b.close();
    return { outcome, localType };
  }
}

test('a data channel relays through coturn with the credentials the server hands out', async () => {
  const iceServers = await iceServersFromServer();
  const turnEntry = iceServers.find((s) => String(s.urls).startsWith('turn:'));
  expect(turnEntry?.username).toMatch(/^\d+:/);
  const page = await user.context.newPage();
  await page.goto(`${server.url}/livez`);
  const result = await page.evaluate(relayOnlyDataChannel, iceServers);
  expect(result).toEqual({ outcome: 'through the relay', localType: 'relay' });
  await page.close();
});

test('tampered TURN credentials get no relay', async () => {
  const iceServers = (await iceServersFromServer()).map((s) =>
    String(s.urls).startsWith('turn:') ? { ...s, credential: `${s.credential}x` } : s,
  );
  const page = await user.context.newPage();
  await page.goto(`${server.url}/livez`);
  const result = await page.evaluate(relayOnlyDataChannel, iceServers);
  expect(result.outcome).toBe('timeout');
  expect(result.localType).toBe('none');
  await page.close();
});
