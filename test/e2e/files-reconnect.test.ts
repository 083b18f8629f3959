/**
 * A file transfer across a lost connection while both pages stay open: Bo sends Ana (both on
 * the guest page) a 64 MiB file; mid-way Ana's call data channels are closed (what a dead
 * SCTP association does after a network outage). Neither page is new, so the impolite side
 * offers a new connection (src/call/remote-participant.ts); both PeerLinks re-attach to it and
 * the transfer continues from the bytes Ana has: it is resumed, not restarted. Proven by the
 * SHA-256 of the saved file and by the frames Bo's page sends: the first frame on the new
 * connection starts past 0, at or after what Ana had written before the cut, and the bytes
 * sent twice are exactly the ones lost with the old connection, at most the unacknowledged
 * window.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import {
  card,
  dropTestFiles,
  joinCall,
  KEEP_CHANNELS,
  makeFiles,
  sha256OfDownload,
} from './files-helpers.ts';
import { type BrowserUser, launchBrowser } from './harness.ts';

let server: ServerHandle;
let ana: BrowserUser;
let bo: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  [ana, bo] = await Promise.all([launchBrowser({ extension: false }), launchBrowser({ extension: false })]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await server?.stop();
});

/**
 * Counts the body bytes Bo's page hands to 'files' channels: on the first one, and in all; and
 * the offset (bytes 5-12 of the frame header) of the first frame on any later channel.
 */
const COUNT_SENT = `(() => {
  const g = globalThis;
  g.__sent = { total: 0, onFirst: 0, resumedFrom: null };
  let first = null;
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    if (this.label === 'files' && data instanceof ArrayBuffer && data.byteLength > 13) {
      first ??= this;
      const body = data.byteLength - 13;
      if (this === first && this.readyState === 'open') g.__sent.onFirst += body;
      if (this !== first && g.__sent.resumedFrom === null) g.__sent.resumedFrom = new DataView(data).getFloat64(5);
      if (this.readyState === 'open') g.__sent.total += body;
    }
    return send.call(this, data);
  };
})();`;

interface Sent {
  total: number;
  onFirst: number;
  resumedFrom: number | null;
}

const MiB = 1024 * 1024;
/** Bytes a sender may have sent beyond what the receiver acknowledged (src/call/files/file-exchange.ts). */
const UNACKNOWLEDGED_WINDOW = 32 * MiB;

test('a connection lost mid-transfer while both pages stay: a new one is made and the file resumes from where it was, byte-exact', async () => {
  await ana.context.addInitScript({ content: KEEP_CHANNELS });
  await bo.context.addInitScript({ content: COUNT_SENT });
  const { a: anaPage, b: boPage } = await joinCall(server.url, ana.context, bo.context);
  // Bo's card states as they come (the pause may be short).
  await boPage.evaluate(() => {
    const w = window as unknown as { __states: string[] };
    w.__states = [];
    setInterval(() => {
      const li = document.querySelector<HTMLElement>('li.parley-file');
      const status = li?.querySelector('.parley-file-status')?.textContent ?? '';
      const entry = `${li?.dataset.state ?? ''}: ${status.startsWith('Paused') ? status : ''}`;
      if (w.__states.at(-1) !== entry) w.__states.push(entry);
    }, 20);
  });

  const size = 64 * MiB;
  const originals = await makeFiles(boPage, [{ kind: 'random', name: 'film.bin', size }]);
  await dropTestFiles(boPage);
  const written = () =>
    card(anaPage, 'film.bin')
      .locator('progress')
      .evaluate((p: HTMLProgressElement) => p.value);
  await expect.poll(written, { timeout: 120_000, interval: 50 }).toBeGreaterThan(0.3 * size);

  // The transport under the call's channels dies: closed on Ana's side, so on Bo's as well.
  const writtenAtCut = await anaPage.evaluate(() => {
    const g = globalThis as unknown as { __channels: RTCDataChannel[] };
    const value = document.querySelector<HTMLProgressElement>('li.parley-file progress')?.value ?? 0;
    for (const channel of g.__channels) channel.close();
    return value;
  });
  expect(writtenAtCut).toBeLessThan(size);

  await expect
    .poll(() => card(anaPage, 'film.bin').getAttribute('data-state'), { timeout: 120_000 })
    .toBe('done');
  await expect
    .poll(() => card(boPage, 'film.bin').getAttribute('data-state'), { timeout: 30_000 })
    .toBe('done');
  expect(await boPage.evaluate(() => (window as unknown as { __states: string[] }).__states)).toContain(
    'paused: Paused: reconnecting…',
  );
  const [download] = await Promise.all([
    anaPage.waitForEvent('download'),
    card(anaPage, 'film.bin').getByRole('button', { name: 'Save' }).click(),
  ]);
  expect(await sha256OfDownload(download)).toBe(originals['film.bin']!.sha256);

  // Resumed, not restarted: the new connection's first frame starts where Ana was.
  const sent = await boPage.evaluate(() => (globalThis as unknown as { __sent: Sent }).__sent);
  expect(sent.resumedFrom).not.toBeNull();
  expect(sent.resumedFrom!).toBeGreaterThanOrEqual(writtenAtCut);
  expect(sent.resumedFrom!).toBeLessThanOrEqual(sent.onFirst);
  // What went twice is exactly what the old connection lost, within the unacknowledged window.
  const twice = sent.total - size;
  expect(twice).toBe(sent.onFirst - sent.resumedFrom!);
  expect(twice).toBeLessThanOrEqual(UNACKNOWLEDGED_WINDOW);
  await Promise.all([anaPage.close(), boPage.close()]);
});
