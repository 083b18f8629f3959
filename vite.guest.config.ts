/**
 * Builds the guest page (the overlay's call UI as a plain web page, no extension APIs) into
 * build/guest/, which the signaling server serves at /r/:room with assets under /guest/.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'src/guest',
  base: '/guest/',
  build: {
    outDir: '../../build/guest',
    emptyOutDir: true,
    target: 'es2022',
  },
});
