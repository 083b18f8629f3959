/**
 * Chat across a replaced connection, both guest pages staying open (the setup of
 * files-reconnect.test.ts): Ana's call data channels are closed (what a dead SCTP association
 * does after a network outage), and in the very task her page sees them closed she sends
 * three messages from the chat form. The page says they wait for the connection; once the
 * new connection is up they reach Bo exactly once each, in the order she sent them, before
 * what she sends afterwards.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { joinCall, KEEP_CHANNELS } from './files-helpers.ts';
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

test('chat sent while the connection is replaced waits for the new one and arrives once, in order', async () => {
  await ana.context.addInitScript({ content: KEEP_CHANNELS });
  const { a: anaPage, b: boPage } = await joinCall(server.url, ana.context, bo.context);
  for (const page of [anaPage, boPage]) await page.getByRole('button', { name: 'Chat' }).click();
  const box = anaPage.getByRole('textbox', { name: 'Message' });
  const boList = boPage.getByRole('list', { name: 'Messages' });
  await box.fill('before the cut');
  await box.press('Enter');
  await boList.getByText('before the cut').waitFor({ timeout: 30_000 });

  // The call's channels close on Ana's side; when her page has seen the control channel
  // close (her link to Bo is paused then), she sends three messages with the chat form.
  const during = ['one while reconnecting', 'two while reconnecting', 'three while reconnecting'];
  const hints = await anaPage.evaluate((texts) => {
    const channels = (globalThis as unknown as { __channels: RTCDataChannel[] }).__channels;
    const control = channels.filter((c) => c.label === 'control').at(-1);
    if (!control) throw new Error('no control channel');
    const seen = new Promise<string[]>((resolve) => {
      control.addEventListener('close', () => {
        const input = document.querySelector<HTMLInputElement>('input[aria-label="Message"]');
        const form = input?.form;
        if (!input || !form) throw new Error('no chat form');
        const said: string[] = [];
        for (const text of texts) {
          input.value = text;
          form.requestSubmit();
          said.push(document.querySelector('.parley-chat-hint')?.textContent ?? '');
        }
        resolve(said);
      });
    });
    for (const channel of channels) channel.close();
    return seen;
  }, during);
  expect(hints).toEqual(
    during.map(() => 'Reconnecting: your message will be sent as soon as the connection is back.'),
  );

  // The new connection is up (the hint goes), and what was said meanwhile reached Bo once, in order.
  await expect
    .poll(() => anaPage.getByRole('status').filter({ hasText: 'Reconnecting: your message' }).count(), {
      timeout: 60_000,
    })
    .toBe(0);
  await box.fill('after the cut');
  await box.press('Enter');
  await boList.getByText('after the cut').waitFor({ timeout: 30_000 });
  const texts = await boList.locator('.parley-chat-text').allTextContents();
  expect(texts).toEqual(['before the cut', ...during, 'after the cut']);
  // A new connection carried them (Ana's page made a second pair of call channels).
  const made = await anaPage.evaluate(
    () =>
      (globalThis as unknown as { __channels: RTCDataChannel[] }).__channels.filter(
        (c) => c.label === 'control',
      ).length,
  );
  expect(made).toBeGreaterThanOrEqual(2);
  // Ana's own timeline shows each once too.
  const mine = await anaPage
    .getByRole('list', { name: 'Messages' })
    .locator('.parley-chat-text')
    .allTextContents();
  expect(mine).toEqual(['before the cut', ...during, 'after the cut']);
  await Promise.all([anaPage.close(), boPage.close()]);
});
