/**
 * `npm start`: after the build, say how to load the extension, then run the signaling server
 * (in-memory rooms, http://localhost:8787 unless PORT/HOST say otherwise).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist', import.meta.url));
const port = process.env.PORT ?? '8787';
const lines = [
  '',
  '  Parley',
  `  Signaling server and guest pages: http://localhost:${port}`,
  existsSync(`${dist}/manifest.json`)
    ? `  Extension built in ${dist}`
    : '  Extension not built: run `npm run build` first.',
  '  Load it in Chrome: open chrome://extensions, switch on Developer mode,',
  `  click "Load unpacked" and choose ${dist}.`,
  '  Then click the Parley toolbar button on any page and press "Start video call".',
  '',
];
process.stderr.write(`${lines.join('\n')}\n`);
await import('../server/main.ts');
