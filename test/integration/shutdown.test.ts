import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ROOT, startServer } from '../helpers/server-process.ts';
import { newRoom, TestClient } from './ws-client.ts';

describe('graceful shutdown', () => {
  it('tells every client, closes them with 1001, reports not-ready while draining, and exits 0', async () => {
    const server = await startServer({ SHUTDOWN_GRACE_MS: '1500' });
    const room = newRoom();
    const { client: a } = await TestClient.joined(server.url, room);
    const { client: b } = await TestClient.joined(server.url, room);
    const idle = await TestClient.open(server.url);

    // A client that completed the upgrade but never answers the close handshake keeps the
    // server draining for the grace period, long enough to look at /readyz.
    const stubborn = connect(server.port, '127.0.0.1');
    stubborn.write(
      'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await new Promise<void>((resolve) => stubborn.once('data', () => resolve()));
    stubborn.on('error', () => {});

    const exit = server.stop('SIGTERM');
    for (const c of [a, b, idle]) {
      expect(await c.next('error')).toMatchObject({
        code: 'server-shutdown',
        message: expect.stringMatching(/\.$/),
      });
      expect((await c.closed).code).toBe(1001);
    }
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    expect(await exit).toBe(0);
    stubborn.destroy();
    expect(server.logs.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});

describe('shutdown without a log reader', () => {
  it('still exits 0 on SIGTERM when nobody reads its stdout any more', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exit = once(child, 'exit');
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    // The log collector goes away (e.g. a crashed supervisor): later log lines hit EPIPE.
    child.stdout.destroy();
    child.kill('SIGTERM');
    const [code] = await exit;
    expect(code).toBe(0);
  });
});
