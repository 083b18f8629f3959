/**
 * The extension's send-again secret (src/call/files/send-again-key.ts), kept by the background
 * in storage.session: one per browser session, shared by every overlay and call window, gone
 * when the browser closes. The overlay documents ask for it with a runtime message
 * (main.ts answers only our overlay and call-window pages). The background keeps it because
 * Firefox gives an overlay frame no storage.session of its own.
 */
import { keptSecret, toBase64 } from '../call/files/send-again-key.ts';

const NAME = 'parley.sendAgain';

export interface SessionArea {
  get(key: string): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
}

let pending: Promise<string | null> | null = null;

/** The secret (base64, 32 bytes), made on first use; null when storage refused. */
export function sendAgainSecret(area: SessionArea = chrome.storage.session): Promise<string | null> {
  // One at a time: two overlays asking at once must not each make (and store) a secret.
  pending ??= keptSecret(
    async () => {
      const stored = (await area.get(NAME))[NAME];
      return typeof stored === 'string' ? stored : null;
    },
    (value) => area.set({ [NAME]: value }),
  ).then((secret) => {
    if (!secret) pending = null; // try again next time
    return secret ? toBase64(secret) : null;
  });
  return pending;
}

/** For tests: forget the secret this worker remembers (storage keeps it). */
export function forgetSendAgainSecret(): void {
  pending = null;
}
