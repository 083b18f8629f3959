/**
 * Open popups are told when what they show may have changed, over a port each opens to this
 * worker (`POPUP_PORT_NAME`), instead of asking every second: a contact coming online or going
 * away, our presence socket registering or dropping (./presence.ts), and anything kept in
 * chrome.storage (rings, missed and refused calls, contacts, calls, contact-link requests,
 * settings). The message is only a nudge, `{ type: 'changed' }`: the popup asks for its state
 * (for its own tab) as it does when it opens. Nudges within 50 ms are sent as one.
 */
import { isOwnExtension, type Port } from '../messaging/runtime.ts';
import { pageUrl } from './placement.ts';

const POPUP_PAGE = 'src/popup/popup.html';
const COALESCE_MS = 50;

const ports = new Set<Port>();
let due: ReturnType<typeof setTimeout> | null = null;

/** Our popup page only (any other sender is disconnected). */
export function acceptPopupPort(port: Port): void {
  const sender = port.sender;
  const url = sender?.url ? new URL(sender.url) : null;
  if (!sender || !isOwnExtension(sender) || !url || `${url.origin}${url.pathname}` !== pageUrl(POPUP_PAGE)) {
    port.disconnect();
    return;
  }
  ports.add(port);
  port.onDisconnect.addListener(() => ports.delete(port));
}

export function popupsChanged(): void {
  if (due !== null || ports.size === 0) return;
  due = setTimeout(() => {
    due = null;
    for (const port of ports) {
      try {
        port.postMessage({ type: 'changed' });
      } catch {
        ports.delete(port);
      }
    }
  }, COALESCE_MS);
}

export function startPopupUpdates(): void {
  chrome.storage.onChanged.addListener(() => popupsChanged());
}
