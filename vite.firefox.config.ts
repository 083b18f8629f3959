/**
 * Builds the extension for Firefox into dist-firefox/ (or dist-firefox-e2e/ with
 * PARLEY_E2E=1, which adds loopback host permissions for tests; never shipped), from the
 * same sources and manifest.json as the Chrome build (vite.config.ts), with:
 * - the manifest rewritten for Firefox: the background as an event page (`scripts`; Firefox
 *   has no extension service workers), `browser_specific_settings.gecko` (id, data
 *   collection), and no Chrome-only keys or the offscreen permission;
 * - every module in src/platform/ that has a `<name>.firefox.ts` sibling replaced by it (the
 *   platform seams: no offscreen document, the event page's keepalive);
 * - no offscreen document built;
 * - with PARLEY_E2E=1 only, the signaling keepalive every 2 s instead of 20 s (see
 *   src/call/signaling-client.ts), so the keepalive test need not wait out 30 s of idle time.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crx, type ManifestV3Export } from '@crxjs/vite-plugin';
import { defineConfig, type Plugin } from 'vite';
import baseManifest from './manifest.json' with { type: 'json' };

const e2e = process.env.PARLEY_E2E === '1';
const PLATFORM_DIR = join(dirname(fileURLToPath(import.meta.url)), 'src', 'platform');

/**
 * The add-on id Firefox and addons.mozilla.org know Parley by. A GUID, the other form AMO
 * accepts beside `name@domain`: Parley has no domain of its own, and a GUID belongs to nobody
 * else. It must never change once published (Firefox updates and keeps storage by this id);
 * a fork publishing its own build needs its own.
 */
export const GECKO_ID = '{884b636f-db8c-4f03-8dca-84c54f6c1cfe}';

const {
  minimum_chrome_version: _minimumChromeVersion,
  message_serialization: _messageSerialization,
  background,
  permissions,
  ...common
} = baseManifest;

const manifest = {
  ...common,
  background: { scripts: [background.service_worker], type: background.type },
  permissions: permissions.filter((permission) => permission !== 'offscreen'),
  browser_specific_settings: {
    gecko: {
      id: GECKO_ID,
      // Firefox 140 (ESR) is the first to read data_collection_permissions.
      strict_min_version: '140.0',
      data_collection_permissions: { required: ['none'] },
    },
    // Firefox for Android reads data_collection_permissions from 142 on.
    gecko_android: { strict_min_version: '142.0' },
  },
  ...(e2e ? { host_permissions: ['http://127.0.0.1/*', 'http://localhost/*'] } : {}),
} as unknown as ManifestV3Export;

/** Resolves src/platform/<name>.ts to <name>.firefox.ts where that file exists. */
function firefoxPlatform(): Plugin {
  return {
    name: 'parley-firefox-platform',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (!source.includes('platform/')) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (!resolved?.id.startsWith(`${PLATFORM_DIR}/`) || !resolved.id.endsWith('.ts')) return resolved;
      const firefox = resolved.id.replace(/\.ts$/, '.firefox.ts');
      return existsSync(firefox) ? { ...resolved, id: firefox } : resolved;
    },
  };
}

/** The e2e build's signaling keepalive (firefox-keepalive.test.ts holds the idle timeout above it). */
export const E2E_KEEPALIVE_MS = 2000;

export default defineConfig({
  plugins: [firefoxPlatform(), crx({ manifest, browser: 'firefox' })],
  define: { __PARLEY_E2E_KEEPALIVE_MS__: e2e ? String(E2E_KEEPALIVE_MS) : 'undefined' },
  build: {
    outDir: e2e ? 'dist-firefox-e2e' : 'dist-firefox',
    emptyOutDir: true,
    target: 'firefox128',
    rollupOptions: {
      input: {
        // Listed only under web_accessible_resources, crxjs would copy it unbuilt.
        overlay: 'src/overlay/overlay.html',
        permission: 'src/permission/permission.html',
        window: 'src/overlay/window.html',
      },
    },
  },
});
