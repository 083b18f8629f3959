/**
 * Where this document's send-again secret lives (src/call/files/send-again-key.ts): the
 * guest page keeps it in the tab's sessionStorage, so the page reloaded in the same tab is
 * the same person to a receiver; the extension in storage.session (every overlay and call
 * window of this browser session). Where neither can be used, files are sent as before
 * (a receiver that kept part of one starts it over).
 */
import { keptSecret, lazySendAgainKeys, type SendAgainKeys } from '../../call/files/send-again-key.ts';

const NAME = 'parley.sendAgain';

export function sendAgainKeysFor(host: 'guest' | 'extension'): SendAgainKeys {
  if (host === 'extension')
    return lazySendAgainKeys(() =>
      keptSecret(
        async () => {
          const stored = (await chrome.storage.session.get(NAME))[NAME];
          return typeof stored === 'string' ? stored : null;
        },
        (value) => chrome.storage.session.set({ [NAME]: value }),
      ),
    );
  return lazySendAgainKeys(() =>
    keptSecret(
      async () => sessionStorage.getItem(NAME),
      async (value) => sessionStorage.setItem(NAME, value),
    ),
  );
}
