/** Display name and signaling server, remembered in chrome.storage.local. */
import { normalizeServerUrl } from '../protocol/link.ts';

export const DEFAULT_SERVER = 'http://localhost:8787';
const KEY = 'settings';

export interface Settings {
  name: string;
  server: string;
  /**
   * **Available for calls**: hold the presence socket. Null until the person sets the switch:
   * then it is on once there is a contact (background/presence.ts).
   */
  available: boolean | null;
}

export async function loadSettings(): Promise<Settings> {
  const stored = (await chrome.storage.local.get(KEY))[KEY] as Partial<Settings> | undefined;
  let server = DEFAULT_SERVER;
  try {
    if (typeof stored?.server === 'string') server = normalizeServerUrl(stored.server);
  } catch {
    // A value that no longer parses falls back to the default rather than breaking the popup.
  }
  const name = typeof stored?.name === 'string' ? stored.name.slice(0, 40) : '';
  const available = typeof stored?.available === 'boolean' ? stored.available : null;
  return { name, server, available };
}

export async function saveSettings(patch: Partial<Settings>): Promise<Settings> {
  const next = { ...(await loadSettings()), ...patch };
  await chrome.storage.local.set({ [KEY]: next });
  return next;
}
