/**
 * Chat between two guest pages (two Chromium profiles, the real server): both ways, peer to
 * peer; links only for http(s); markup shows as characters and never runs.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { joinCall } from './files-helpers.ts';
import { type BrowserUser, launchBrowser } from './harness.ts';

let server: ServerHandle;
let ana: BrowserUser;
let bo: BrowserUser;

beforeAll(async () => {
  server = await startServer();
  [ana, bo] = await Promise.all([launchBrowser({ extension: false }), launchBrowser({ extension: false })]);
});

afterAll(async () => {
  await ana?.close();
  await bo?.close();
  await server?.stop();
});

test('chat both ways: unread badge, safe links, and markup shown as text', async () => {
  const { a, b } = await joinCall(server.url, ana.context, bo.context);
  const dialogs: string[] = [];
  for (const page of [a, b]) {
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  }
  try {
    await a.getByRole('button', { name: 'Chat' }).click();
    const messageA = a.getByRole('textbox', { name: 'Message' });
    await messageA.fill('Hello Bo, the notes are at https://example.com/notes. Not javascript:alert(1)');
    await messageA.press('Enter');
    await expect.poll(() => messageA.inputValue()).toBe('');

    // Bo has the chat closed: the badge counts the unread message.
    await expect.poll(() => b.getByLabel('1 unread message').count(), { timeout: 15_000 }).toBe(1);
    await b.getByRole('button', { name: 'Chat' }).click();
    const listB = b.getByRole('list', { name: 'Messages' });
    await expect.poll(() => listB.getByText('Hello Bo').count()).toBe(1);
    await expect(listB.getByRole('listitem').last().textContent()).resolves.toContain('Ana');
    const link = listB.getByRole('link', { name: 'https://example.com/notes' });
    expect(await link.getAttribute('href')).toBe('https://example.com/notes');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await listB.getByRole('link').count()).toBe(1);
    // Opening the chat cleared the badge.
    await expect.poll(() => b.getByLabel(/unread message/).isVisible()).toBe(false);

    // Markup from the peer is shown as characters and never becomes an element.
    const hostile = '<img src=x onerror=alert(1)>';
    const messageB = b.getByRole('textbox', { name: 'Message' });
    await messageB.fill(hostile);
    await b.getByRole('button', { name: 'Send', exact: true }).click();
    const listA = a.getByRole('list', { name: 'Messages' });
    await expect.poll(() => listA.getByText(hostile, { exact: true }).count(), { timeout: 15_000 }).toBe(1);
    expect(await listA.locator('img').count()).toBe(0);
    expect(await listB.locator('img').count()).toBe(0);
    await expect(listA.getByRole('listitem').last().textContent()).resolves.toContain('Bo');
    expect(dialogs).toEqual([]);
  } finally {
    await a.close();
    await b.close();
  }
});
