/**
 * A malicious peer: it joins the room over the real server like anyone else, then speaks the
 * file protocol badly over the real data channels (bad frames, lying sizes, `../` and device
 * names, markup, huge and fake thumbnails, a wrong hash). The receiver refuses each with a
 * visible error, writes nothing outside its own transfer storage, does not crash, and the
 * call goes on.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { card, dropTestFiles, joinCall, makeFiles } from './files-helpers.ts';
import { type BrowserUser, collectConsoleErrors, launchBrowser } from './harness.ts';

let server: ServerHandle;
let mallory: BrowserUser;
let bo: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  [mallory, bo] = await Promise.all([
    launchBrowser({ extension: false }),
    launchBrowser({ extension: false }),
  ]);
  // Mallory's page keeps every data channel it creates, as any script in her page could.
  await mallory.context.addInitScript({
    content: `(() => {
      const create = RTCPeerConnection.prototype.createDataChannel;
      window.malloryChannels = [];
      RTCPeerConnection.prototype.createDataChannel = function (label, init) {
        const channel = create.call(this, label, init);
        window.malloryChannels.push(channel);
        return channel;
      };
    })();`,
  });
});

afterAll(async () => {
  await mallory?.close();
  await bo?.close();
  await server?.stop();
});

test('a peer speaking the file protocol badly cannot crash the receiver or write outside its storage', async () => {
  const { a, b } = await joinCall(server.url, mallory.context, bo.context);
  const errors = collectConsoleErrors(b);
  const dialogs: string[] = [];
  b.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  try {
    // Mallory reaches into her own page and uses the call's real channels directly.
    await a.evaluate(async () => {
      const channels = (window as unknown as { malloryChannels: RTCDataChannel[] }).malloryChannels;
      const open = (label: string) => {
        const channel = channels.filter((c) => c.label === label && c.readyState === 'open').pop();
        if (!channel) throw new Error(`no open ${label} channel in the call`);
        return channel;
      };
      const control = open('control');
      const files = open('files');
      const send = (message: unknown) => control.send(JSON.stringify(message));
      const frame = (type: number, index: number, offset: number, body: Uint8Array) => {
        const buffer = new ArrayBuffer(13 + body.length);
        const view = new DataView(buffer);
        view.setUint8(0, type);
        view.setUint32(1, index);
        view.setFloat64(5, offset);
        new Uint8Array(buffer, 13).set(body);
        return buffer;
      };
      const offer = (
        id: string,
        index: number,
        name: string,
        size: number,
        mime = 'application/octet-stream',
      ) => send({ t: 'file-offer', id, index, name, size, mime, lastModified: 0 });
      const settle = () => new Promise((r) => setTimeout(r, 300));

      // Unknown frame type, a frame too short for its header, text on the binary channel,
      // a frame for a transfer never offered, an offer that breaks the schema.
      files.send(frame(42, 0, 0, new Uint8Array(8)));
      files.send(new ArrayBuffer(3));
      files.send('not a frame');
      files.send(frame(1, 77, 0, new Uint8Array(8)));
      send({ t: 'file-offer', id: '../../x', index: -1, name: 5, size: -1 });
      send({ t: 'file-launch-missiles' });
      // A size that lies: 4 bytes announced, 10 sent, under a traversal name.
      offer('liar-0001', 1, '../../etc/passwd', 4);
      await settle();
      files.send(frame(1, 1, 0, new Uint8Array(10)));
      // A device name, and a chunk far past where the file is.
      offer('gap-00001', 2, 'CON', 1000);
      await settle();
      files.send(frame(1, 2, 500, new Uint8Array(10)));
      // Markup in the name and a huge thumbnail.
      offer('huge-0001', 3, '<img src=x onerror=alert(1)>.png', 10, 'image/png');
      send({
        t: 'file-thumb',
        id: 'huge-0001',
        mime: 'image/jpeg',
        width: 10,
        height: 10,
        data: 'A'.repeat(200_000),
      });
      // A thumbnail that is not an image.
      offer('fake-0001', 4, 'fake.jpg', 10, 'image/jpeg');
      send({
        t: 'file-thumb',
        id: 'fake-0001',
        mime: 'image/jpeg',
        width: 10,
        height: 10,
        data: btoa('<script>alert(1)</script>'),
      });
      // Bytes that do not match the announced SHA-256.
      offer('hash-0001', 5, 'notes.txt', 3, 'text/plain');
      await settle();
      files.send(frame(1, 5, 0, new Uint8Array([1, 2, 3])));
      send({ t: 'file-done', id: 'hash-0001', sha256: '0'.repeat(64) });
    });

    const problem = b.locator('.parley-files-problem');
    await expect
      .poll(() => problem.textContent())
      .toBe('The other side sent something Parley does not understand.');
    await expect.poll(() => card(b, 'etc_passwd').getAttribute('data-state')).toBe('failed');
    await expect(card(b, 'etc_passwd').locator('.parley-file-status').textContent()).resolves.toMatch(
      /more data than it announced/,
    );
    await expect.poll(() => card(b, '_CON').getAttribute('data-state')).toBe('failed');
    await expect(card(b, '_CON').locator('.parley-file-status').textContent()).resolves.toMatch(
      /out of place/,
    );
    const markup = card(b, 'img src=x onerror=alert(1)_.png');
    await expect
      .poll(() => markup.locator('.parley-file-thumb').getAttribute('title'))
      .toMatch(/preview was refused/);
    await expect
      .poll(() => card(b, 'fake.jpg').locator('.parley-file-thumb').getAttribute('title'))
      .toMatch(/not an image/);
    expect(await b.locator('li.parley-file img').count()).toBe(0);
    await expect
      .poll(() => card(b, 'notes.txt').locator('.parley-file-status').textContent())
      .toBe('Corrupted — not saved');
    expect(
      await card(b, 'notes.txt')
        .getByRole('button', { name: /Save|Open/ })
        .count(),
    ).toBe(0);

    // Nothing was written outside parley-incoming/<session>/<transfer id>.
    const stored = await b.evaluate(async () => {
      const paths: string[] = [];
      const walk = async (dir: FileSystemDirectoryHandle, prefix: string) => {
        // @ts-expect-error values() exists on directory handles in Chromium
        for await (const entry of dir.values() as AsyncIterable<FileSystemHandle>) {
          const path = `${prefix}/${entry.name}`;
          if (entry.kind === 'file') paths.push(path);
          else await walk(entry as FileSystemDirectoryHandle, path);
        }
      };
      await walk(await navigator.storage.getDirectory(), '');
      return paths;
    });
    for (const path of stored) expect(path).toMatch(/^\/parley-incoming\/[0-9a-f-]{36}\/(huge|fake)-0001$/);

    // The receiver is still up and the call goes on: a real file still arrives.
    await makeFiles(a, [{ kind: 'random', name: 'after.bin', size: 100_000 }]);
    await dropTestFiles(a);
    await expect
      .poll(() => card(b, 'after.bin').getAttribute('data-state'), { timeout: 30_000 })
      .toBe('done');
    expect(dialogs).toEqual([]);
    expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  } finally {
    await a.close();
    await b.close();
  }
});
