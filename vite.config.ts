/**
 * Builds the extension into dist/ (or dist-e2e/ with PARLEY_E2E=1, which adds loopback host
 * permissions so a popup opened by a test can inject the overlay; never shipped).
 */
import { crx, type ManifestV3Export } from '@crxjs/vite-plugin';
import { defineConfig } from 'vite';
import baseManifest from './manifest.json' with { type: 'json' };

const e2e = process.env.PARLEY_E2E === '1';

const manifest = {
  ...baseManifest,
  ...(e2e ? { host_permissions: ['http://127.0.0.1/*', 'http://localhost/*'] } : {}),
} as ManifestV3Export;

export default defineConfig({
  plugins: [crx({ manifest })],
  build: {
    outDir: e2e ? 'dist-e2e' : 'dist',
    emptyOutDir: true,
    target: 'chrome120',
    rollupOptions: {
      input: {
        // Listed only under web_accessible_resources, crxjs would copy it unbuilt.
        overlay: 'src/overlay/overlay.html',
        permission: 'src/permission/permission.html',
        window: 'src/overlay/window.html',
        offscreen: 'src/offscreen/offscreen.html',
      },
    },
  },
  server: { cors: { origin: [/chrome-extension:\/\//] } },
});
