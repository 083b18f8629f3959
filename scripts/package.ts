/**
 * `npm run package` (after the builds): the two store files, in release/:
 * - parley-chrome-<version>.zip: dist/ for the Chrome Web Store;
 * - parley-firefox-<version>.xpi: dist-firefox/ for addons.mozilla.org (an .xpi is a zip),
 *   after web-ext lint found no errors or warnings in it.
 * web-ext zips both (it reads the name and version from each manifest).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import webExt from 'web-ext';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'release');

async function version(dir: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { version: string };
  return manifest.version;
}

async function zip(dir: string, filename: string): Promise<string> {
  if (!existsSync(join(dir, 'manifest.json'))) {
    throw new Error(`${dir} is not built: run \`npm run build:ext\` and \`npm run build:firefox\` first.`);
  }
  const zipName = filename.replace(/\.xpi$/, '.zip');
  const { extensionPath } = await webExt.cmd.build(
    { sourceDir: dir, artifactsDir: OUT, filename: zipName, overwriteDest: true },
    { showReadyMessage: false },
  );
  const target = join(OUT, filename);
  if (extensionPath !== target) await rename(extensionPath, target);
  return target;
}

async function lintFirefox(dir: string): Promise<void> {
  const result = (await webExt.cmd.lint(
    { sourceDir: dir, output: 'text', warningsAsErrors: true, selfHosted: false },
    { shouldExitProgram: false },
  )) as { errors: unknown[]; warnings: unknown[] } | undefined;
  if (!result || result.errors.length > 0 || result.warnings.length > 0) {
    throw new Error(`web-ext lint found problems in ${dir}: run \`npm run lint:firefox\` to see them.`);
  }
}

await mkdir(OUT, { recursive: true });
const chrome = join(ROOT, 'dist');
const firefox = join(ROOT, 'dist-firefox');
const written = [await zip(chrome, `parley-chrome-${await version(chrome)}.zip`)];
await lintFirefox(firefox);
written.push(await zip(firefox, `parley-firefox-${await version(firefox)}.xpi`));
for (const file of written) console.log(file);
