/**
 * Where this document's send-again secret lives (src/call/files/send-again-key.ts): the
 * guest page keeps it in the tab's sessionStorage, so the page reloaded in the same tab is
 * the same person to a receiver; the extension's overlay and call window ask the background,
 * which keeps one in storage.session for the browser session (src/background/
 * send-again-secret.ts; Firefox gives an overlay frame no storage.session of its own). Where
 * neither can be had, files are sent as before (a receiver that kept part of one starts it over).
 */
import {
  keptSecret,
  lazySendAgainKeys,
  SEND_AGAIN_SECRET_REQUEST,
  type SendAgainKeys,
} from '../../call/files/send-again-key.ts';

const NAME = 'parley.sendAgain';

interface Runtime {
  runtime: { sendMessage(message: unknown): Promise<unknown> };
}

/** The promise-based runtime of this browser: `browser` (Firefox, recent Chrome) or `chrome`. */
function extensionRuntime(): Runtime {
  const scope = globalThis as unknown as { browser?: Runtime; chrome: Runtime };
  return scope.browser ?? scope.chrome;
}

export function sendAgainKeysFor(host: 'guest' | 'extension'): SendAgainKeys {
  if (host === 'extension')
    return lazySendAgainKeys(() =>
      keptSecret(
        async () => {
          const answer = await extensionRuntime().runtime.sendMessage({ type: SEND_AGAIN_SECRET_REQUEST });
          return typeof answer === 'string' ? answer : null;
        },
        async () => {
          // The background keeps it; one made here would be this document's alone.
          throw new Error('The background has no send-again secret.');
        },
      ),
    );
  return lazySendAgainKeys(() =>
    keptSecret(
      async () => sessionStorage.getItem(NAME),
      async (value) => sessionStorage.setItem(NAME, value),
    ),
  );
}
