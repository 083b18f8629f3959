/**
 * The only module that touches webextension-polyfill (promise-based runtime messaging).
 * Chrome ≥148 ships `browser` natively and the polyfill's last release is 0.12, so features
 * go through these few functions and the polyfill can be dropped here alone.
 */
import browser, { type Runtime } from 'webextension-polyfill';
import type { BgToContent, PermissionToBg, PopupReplies, PopupToBg } from './messages.ts';

export type MessageSender = Runtime.MessageSender;

/** Popup → background request with a typed reply. */
export function askBackground<M extends PopupToBg>(message: M): Promise<PopupReplies[M['type']]> {
  return browser.runtime.sendMessage(message) as Promise<PopupReplies[M['type']]>;
}

/** For message families kept in their own module (they type their replies themselves). */
export function askBackgroundRaw(message: unknown): Promise<unknown> {
  return browser.runtime.sendMessage(message);
}

export function tellBackground(message: PermissionToBg): Promise<unknown> {
  return browser.runtime.sendMessage(message);
}

/**
 * One listener for runtime messages. The handler returns a promise for messages it answers
 * and undefined for messages it ignores (so another listener, e.g. the offscreen host, may).
 */
export function onRuntimeMessage(
  handler: (message: unknown, sender: MessageSender) => Promise<unknown> | undefined,
): void {
  browser.runtime.onMessage.addListener(((message: unknown, sender: MessageSender) =>
    handler(message, sender)) as Parameters<typeof browser.runtime.onMessage.addListener>[0]);
}

/** Background → content script in the top frame of a tab. Resolves false if nobody listened. */
export async function tellContent(tabId: number, message: BgToContent): Promise<boolean> {
  try {
    await browser.tabs.sendMessage(tabId, message, { frameId: 0 });
    return true;
  } catch {
    return false;
  }
}

/** Ports are native `chrome.runtime.Port`s (the polyfill hands them back unchanged anyway). */
export type Port = chrome.runtime.Port;

export function connectToBackground(name: string): Port {
  return chrome.runtime.connect({ name });
}

export function onPortConnect(handler: (port: Port) => void): void {
  chrome.runtime.onConnect.addListener(handler);
}

export function isOwnExtension(sender: { id?: string | undefined }): boolean {
  return sender.id === chrome.runtime.id;
}
