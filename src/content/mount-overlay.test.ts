import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('the content script', () => {
  it('stays under 3 KB minified, so injecting it on a click costs the page next to nothing', async () => {
    const result = await build({
      entryPoints: [new URL('./mount-overlay.ts', import.meta.url).pathname],
      bundle: true,
      minify: true,
      write: false,
      format: 'esm',
      target: 'chrome120',
    });
    const bytes = result.outputFiles[0]!.contents.byteLength;
    expect(bytes).toBeLessThanOrEqual(3 * 1024);
  });

  it('is self-contained: the function imports nothing, because executeScript serialises it', async () => {
    const { mountOverlay } = await import('./mount-overlay.ts');
    const source = mountOverlay.toString();
    expect(source).not.toMatch(/\bimport\b|\brequire\(/);
  });
});
