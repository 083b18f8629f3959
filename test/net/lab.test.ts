/**
 * The lab itself behaves like the networks it stands for, measured with plain UDP and TCP
 * probes (no browser): a plain home router keeps one public port for every destination, a
 * symmetric one picks a new port per destination, a UDP-blocking one lets only TCP 443 out,
 * the userspace TUN link adds the delay and loss it is told to, a capped link carries about
 * its rate, and a laptop moved to another router shows up from that router's address.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ROOT } from '../helpers/server-process.ts';
import { type Home, type Host, NetLab, SERVER_IP, TURN_IP } from './lab.ts';

const PROBE = join(ROOT, 'test/net/probe.mjs');
let lab: NetLab;
let homes: Record<'nat' | 'symmetric' | 'blocked' | 'capped', Home>;
let laptop: Host;

beforeAll(async () => {
  lab = await NetLab.create();
  homes = {
    nat: await lab.addHome('nat', { kind: 'nat' }),
    symmetric: await lab.addHome('sym', { kind: 'symmetric' }),
    blocked: await lab.addHome('blocked', { kind: 'udp-blocked' }),
    capped: await lab.addHome('capped', { kind: 'nat', rateKbit: 1000 }),
  };
  laptop = await lab.addHost('laptop', [homes.nat, homes.symmetric]);
  // UDP echoes on both public addresses, and a TCP sink.
  for (const ip of [SERVER_IP, TURN_IP])
    await started(lab.spawnIn(lab.pubNs, process.execPath, [PROBE, 'echo', ip, '7000']));
});

afterAll(async () => {
  await lab?.close();
});

function started(child: ReturnType<NetLab['spawnIn']>): Promise<void> {
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`probe exited with ${code}`)));
  });
}

async function probe(host: Host, ...args: string[]): Promise<Record<string, unknown>> {
  const out = await lab.sh(host.ns, process.execPath, PROBE, ...args);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}');
}

/** TCP from the host to a sink on the server's address: kbit/s received over `seconds`. */
async function throughput(host: Host, port: number, seconds: number): Promise<{ kbps: number }> {
  const sink = lab.spawnIn(lab.pubNs, process.execPath, [
    PROBE,
    'sink',
    SERVER_IP,
    String(port),
    String(seconds),
  ]);
  await started(sink);
  const result = new Promise<{ kbps: number }>((resolve) =>
    sink.stdout?.on('data', (d) => {
      const line = String(d).trim().split('\n').pop() ?? '';
      if (line.includes('kbps')) resolve(JSON.parse(line));
    }),
  );
  await lab.sh(host.ns, process.execPath, PROBE, 'send', `${SERVER_IP}:${port}`, String(seconds + 1));
  return result;
}

const ECHOES = [`${SERVER_IP}:7000`, `${TURN_IP}:7000`];

test('a plain home router keeps one public port for every destination; a symmetric one does not', async () => {
  const plain = await lab.addHost('plain', [homes.nat]);
  const symmetric = await lab.addHost('symhost', [homes.symmetric]);
  const seenPlain = Object.values(await probe(plain, 'mapping', ...ECHOES)) as string[];
  const seenSymmetric = Object.values(await probe(symmetric, 'mapping', ...ECHOES)) as string[];
  expect(seenPlain).toHaveLength(2);
  expect(new Set(seenPlain).size).toBe(1);
  expect(seenPlain[0]).toMatch(new RegExp(`^${homes.nat.wanIp}:`));
  expect(seenSymmetric).toHaveLength(2);
  expect(new Set(seenSymmetric.map((s) => s.split(':')[0]))).toEqual(new Set([homes.symmetric.wanIp]));
  expect(new Set(seenSymmetric).size).toBe(2);
});

test('behind the UDP-blocking router no UDP gets out, TCP to port 443 does', async () => {
  const host = await lab.addHost('blockedhost', [homes.blocked]);
  expect(await probe(host, 'mapping', ...ECHOES)).toEqual({});
  const result = await throughput(host, 443, 1);
  expect(result.kbps).toBeGreaterThan(0);
});

test('the TUN link delays and drops packets as set, per test', async () => {
  const { host, link } = await lab.addHostOverTun('wifi', homes.nat);
  const clean = await probe(host, 'rtt', ECHOES[0] as string, '20', '20');
  expect(clean.lost).toBe(0);
  await link.set({ delayMs: 75, jitterMs: 10, loss: 0 });
  const delayed = (await probe(host, 'rtt', ECHOES[0] as string, '20', '20')) as {
    lost: number;
    medianMs: number;
  };
  expect(delayed.lost).toBe(0);
  // 75 ms each way (plus up to 10 ms jitter): a round trip of 150-170 ms and a little.
  expect(delayed.medianMs).toBeGreaterThanOrEqual(150);
  expect(delayed.medianMs).toBeLessThan(250);
  await link.set({ delayMs: 0, jitterMs: 0, loss: 0.3 });
  const before = await link.stats();
  const lossy = (await probe(host, 'rtt', ECHOES[0] as string, '100', '10')) as { lost: number };
  const after = await link.stats();
  // 30% each way: about half of the round trips are lost.
  expect(lossy.lost).toBeGreaterThan(20);
  expect(lossy.lost).toBeLessThan(80);
  expect(after.dropped - before.dropped).toBeGreaterThan(20);
});

test('a 1 Mbit/s home link carries about 1 Mbit/s', async () => {
  const host = await lab.addHost('cappedhost', [homes.capped]);
  const result = await throughput(host, 9000, 3);
  console.info(`capped link: ${result.kbps} kbit/s`);
  expect(result.kbps).toBeGreaterThan(700);
  expect(result.kbps).toBeLessThan(1100);
});

test('a laptop that moves to another router is seen from that router’s address', async () => {
  const before = Object.values(await probe(laptop, 'mapping', ECHOES[0] as string)) as string[];
  expect(before[0]).toMatch(new RegExp(`^${homes.nat.wanIp}:`));
  await lab.moveHost(laptop, homes.symmetric);
  const after = Object.values(await probe(laptop, 'mapping', ECHOES[0] as string)) as string[];
  expect(after[0]).toMatch(new RegExp(`^${homes.symmetric.wanIp}:`));
});
