import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SAFE_NAME, safeFileName } from './safe-name.ts';

describe('safeFileName', () => {
  it('keeps ordinary names as they are', () => {
    expect(safeFileName('photo.jpg')).toBe('photo.jpg');
    expect(safeFileName('Résumé 2026 (final).pdf')).toBe('Résumé 2026 (final).pdf');
    expect(safeFileName('日本語のファイル.txt')).toBe('日本語のファイル.txt');
  });

  it('removes path traversal and separators', () => {
    expect(safeFileName('../../x')).toBe('x');
    expect(safeFileName('..\\..\\windows\\system32\\evil.dll')).toBe('windows_system32_evil.dll');
    expect(safeFileName('/etc/passwd')).toBe('etc_passwd');
    expect(safeFileName('..')).toBe('file');
    expect(safeFileName('.bashrc')).toBe('bashrc');
  });

  it('neutralises markup in names', () => {
    expect(safeFileName('../<b>x</b>.bin')).toBe('b_x_b_.bin');
    expect(safeFileName('<img src=x onerror=alert(1)>.png')).toBe('img src=x onerror=alert(1)_.png');
  });

  it('prefixes Windows device names', () => {
    expect(safeFileName('CON')).toBe('_CON');
    expect(safeFileName('nul.txt')).toBe('_nul.txt');
    expect(safeFileName('com1')).toBe('_com1');
    expect(safeFileName('CONSOLE.txt')).toBe('CONSOLE.txt');
  });

  it('strips control and bidi-override characters', () => {
    expect(safeFileName('a\u0000b\nc\u0007.txt')).toBe('abc.txt');
    expect(safeFileName('photo\u202Egpj.exe')).toBe('photogpj.exe');
    expect(safeFileName('name. . ')).toBe('name');
  });

  it('shortens very long names and keeps the extension', () => {
    const long = `${'a'.repeat(5000)}.tar.gz`;
    const safe = safeFileName(long);
    expect(safe.length).toBeLessThanOrEqual(MAX_SAFE_NAME);
    expect(safe.endsWith('.gz')).toBe(true);
    expect(safeFileName('😀'.repeat(200)).length).toBeLessThanOrEqual(MAX_SAFE_NAME * 2);
  });

  it('never yields an empty name, a separator, a control character or a leading dot', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
        const safe = safeFileName(name);
        expect(safe.length).toBeGreaterThan(0);
        expect(Array.from(safe).length).toBeLessThanOrEqual(MAX_SAFE_NAME);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting they are gone.
        expect(safe).not.toMatch(/[\\/:*?"<>|\u0000-\u001f\u007f]/);
        expect(safe.startsWith('.')).toBe(false);
        expect(safeFileName(safe)).toBe(safe);
      }),
      { numRuns: 300 },
    );
  }, 20_000);
});
