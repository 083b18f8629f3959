/**
 * Ringing through a hostile signaling server: two real Chromium profiles with the built
 * extension, each talking to the real server through its own proxy (test/helpers/
 * hostile-proxy.ts) that reads, rewrites and injects messages as a malicious server could.
 * Ana and Bo saved each other in a link call first.
 *
 * - Forged invites (bad signature, wrong mailbox, expired, replayed) reach Bo's presence
 *   socket: nothing shows (no notification, no ring card), each is counted by reason.
 * - A contact call whose offer has its DTLS fingerprint swapped is refused before it connects.
 * - The same, re-signed by another key: Bo's call window says Ana's key changed.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDescriptionText } from '../../src/identity/binding.ts';
import { generateIdentity, signText } from '../../src/identity/keys.ts';
import type { Invite } from '../../src/protocol/presence.ts';
import { type HostileProxy, type Json, startHostileProxy } from '../helpers/hostile-proxy.ts';
import { type ServerHandle, startServer } from '../helpers/server-process.ts';
import { contactLine, hangUp, linkCall, ringNotifications, saveEachOther } from './contact-steps.ts';
import { ORDINARY_PAGE, type PageServer, startPageServer } from './harness.ts';
import {
  callWindow,
  configurePopup,
  type ExtensionUser,
  launchExtensionUser,
  overlayFrame,
  overlayMounted,
} from './popup-driver.ts';

let server: ServerHandle;
let anaProxy: HostileProxy;
let boProxy: HostileProxy;
let pages: PageServer;
let ana: ExtensionUser;
let bo: ExtensionUser;
let anaPage: Page;
let boPage: Page;
/** Every invite Ana's browser sent, as her proxy saw it. */
const anaInvites: Invite[] = [];

const MALLORY_FP =
  'a=fingerprint:sha-256 77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77';

beforeAll(async () => {
  server = await startServer();
  [anaProxy, boProxy] = await Promise.all([startHostileProxy(server.url), startHostileProxy(server.url)]);
  anaProxy.toServer = (message) => {
    if (message.type === 'ring') anaInvites.push(message.invite as Invite);
    return message;
  };
  pages = await startPageServer({ '/': ORDINARY_PAGE });
  [ana, bo] = await Promise.all([launchExtensionUser(), launchExtensionUser()]);
});

afterAll(async () => {
  await Promise.all([ana?.close(), bo?.close()]);
  await pages?.close();
  await Promise.all([anaProxy?.close(), boProxy?.close()]);
  await server?.stop();
});

async function page(user: ExtensionUser): Promise<Page> {
  const p = await user.context.newPage();
  await p.goto(`${pages.url}/`);
  return p;
}

/** Bo's presence sockets (the ones that registered) on his proxy. */
function boPresence() {
  return boProxy.sockets.filter((s) => s.open && s.clientTypes.has('register'));
}

/** What Bo's worker counted of the invites it dropped, by reason. */
async function boDropped(): Promise<Record<string, number>> {
  const worker = await bo.serviceWorker();
  return worker.evaluate(
    async () =>
      ((await chrome.storage.session.get('ring-dropped'))['ring-dropped'] ?? {}) as Record<string, number>,
  );
}

/** Ana presses Call Bo (audio unless said); returns her overlay and her invite. */
async function anaRingsBo(button: 'Call Bo' | 'Audio call Bo' = 'Audio call Bo') {
  await expect.poll(() => contactLine(ana, anaPage, 'Bo'), { timeout: 30_000 }).toMatch(/\bAvailable/);
  const before = anaInvites.length;
  const popup = await ana.openPopup(anaPage);
  await popup.click(button);
  await popup.waitForStatus(/Calling Bo…/);
  const overlay = await overlayFrame(anaPage, ana.extensionId);
  await popup.close();
  await expect.poll(() => anaInvites.length, { timeout: 15_000 }).toBeGreaterThan(before);
  return { overlay, invite: anaInvites[anaInvites.length - 1] as Invite };
}

/** Bo accepts from his popup's ring card; resolves with the call window. */
async function boAccepts(): Promise<Page> {
  await expect.poll(() => ringNotifications(bo), { timeout: 15_000 }).toBe(1);
  const popup = await bo.openPopup(boPage);
  await popup.waitForText(/Ana is calling/);
  await popup.click('Accept');
  const win = await callWindow(bo);
  await popup.close().catch(() => {});
  return win;
}

/** Every description the server relays to Bo, with its fingerprints replaced by Mallory's. */
function swapFingerprints(resign?: (message: Json, sdp: string) => Promise<string>) {
  boProxy.toClient = async (message) => {
    const data = message.data as { kind?: string; description?: { type: string; sdp: string } } | undefined;
    if (message.type !== 'signal' || data?.kind !== 'description' || !data.description) return message;
    const sdp = data.description.sdp.replace(/a=fingerprint:sha-256 [0-9A-F:]+/g, MALLORY_FP);
    const auth = resign ? await resign(message, sdp) : (data as { auth: string }).auth;
    return { ...message, data: { ...data, description: { ...data.description, sdp }, auth } };
  };
}

async function endAnasCall(overlay: Awaited<ReturnType<typeof anaRingsBo>>['overlay']): Promise<void> {
  if (await overlayMounted(anaPage)) {
    await overlay
      .getByRole('button', { name: /Hang up|Close/ })
      .first()
      .click({ timeout: 5000 })
      .catch(() => {});
  }
  await expect.poll(() => overlayMounted(anaPage), { timeout: 20_000 }).toBe(false);
}

describe('ringing through a hostile server', () => {
  it('starts from two people who saved each other in a link call, each on their own (hostile) proxy', async () => {
    const call = await linkCall(ana, bo, { server: anaProxy.url, pageUrl: `${pages.url}/` });
    await saveEachOther(call);
    await hangUp(call);
    [anaPage, boPage] = await Promise.all([page(ana), page(bo)]);
    const popup = await bo.openPopup(boPage);
    await configurePopup(popup, { server: boProxy.url, name: 'Bo' });
    await popup.close();
    await expect.poll(() => boPresence().length, { timeout: 20_000 }).toBeGreaterThan(0);
  });

  it('drops forged, re-aimed, expired and replayed invites without a notification, and counts them', async () => {
    // A genuine ring first (Bo declines it): the server now holds a real invite of Ana's.
    const { overlay, invite } = await anaRingsBo();
    await expect.poll(() => ringNotifications(bo), { timeout: 15_000 }).toBe(1);
    const popup = await bo.openPopup(boPage);
    await popup.click('Decline');
    await popup.close();
    await overlay.getByText('Bo declined the call.').waitFor({ timeout: 15_000 });
    await expect.poll(() => overlayMounted(anaPage), { timeout: 15_000 }).toBe(false);

    const before = await boDropped();
    const fresh = (n: number) => `${'F'.repeat(20)}${'ABCDEFGH'[n]}A`;
    const forged: Invite[] = [
      // The same invite again, well within its minute: replayed.
      invite,
      // A new call id (and a later expiry) under Ana's old signature: bad signature.
      { ...invite, callId: fresh(1), expires: Date.now() + 50_000 },
      // Re-aimed at another mailbox: wrong mailbox.
      { ...invite, callId: fresh(2), mailbox: 'QUJDREVGR0hJSktMTU5PUA' },
      // Already expired.
      { ...invite, callId: fresh(3), expires: Date.now() - 5000 },
    ];
    // Into Bo's newest presence socket (the one his worker holds), as the server would send them.
    const socket = boPresence().at(-1);
    expect(socket).toBeDefined();
    for (const one of forged) socket?.toClient({ v: 1, type: 'ring', invite: one });
    const delta = async () => {
      const now = await boDropped();
      return Object.fromEntries(
        ['replayed', 'bad-signature', 'wrong-mailbox', 'expired'].map((r) => [
          r,
          (now[r] ?? 0) - (before[r] ?? 0),
        ]),
      );
    };
    await expect
      .poll(delta, { timeout: 15_000 })
      .toEqual({ replayed: 1, 'bad-signature': 1, 'wrong-mailbox': 1, expired: 1 });
    expect(await ringNotifications(bo)).toBe(0);
    const after = await bo.openPopup(boPage);
    const text = await after.text();
    await after.close();
    expect(text).not.toMatch(/is calling|key changed/);
  });

  it('refuses a contact call whose offer had its DTLS fingerprint swapped', async () => {
    swapFingerprints();
    try {
      const { overlay } = await anaRingsBo();
      const win = await boAccepts();
      await win.getByRole('heading', { name: 'Call not verified' }).waitFor({ timeout: 20_000 });
      await win.getByText('This call could not be verified').waitFor();
      expect(await win.locator('.parley-remote-video').count()).toBe(0);
      await win.close().catch(() => {});
      await endAnasCall(overlay);
    } finally {
      boProxy.toClient = null;
    }
  });

  it("says Ana's key changed when the call is signed by another key than the one Bo saved", async () => {
    const mallory = await generateIdentity();
    const anaWorker = await ana.serviceWorker();
    const boKey = await anaWorker.evaluate(async () => {
      const { contacts } = await chrome.storage.local.get('contacts');
      return Object.keys(contacts as Record<string, unknown>)[0] as string;
    });
    let ringId = '';
    swapFingerprints((message, sdp) =>
      signText(
        mallory,
        callDescriptionText({
          callId: ringId,
          senderPeerId: message.from as string,
          recipientKey: boKey,
          sdp,
        }),
      ).then((sig) => `${mallory.publicKey}.${sig}`),
    );
    try {
      const ringing = anaRingsBo();
      const { overlay, invite } = await ringing;
      ringId = invite.callId;
      const win = await boAccepts();
      await win.getByRole('heading', { name: 'Call not verified' }).waitFor({ timeout: 20_000 });
      await win.getByText(/^Ana's key changed: .*save Ana again/).waitFor();
      await win.close().catch(() => {});
      await endAnasCall(overlay);
    } finally {
      boProxy.toClient = null;
    }
  });
});
