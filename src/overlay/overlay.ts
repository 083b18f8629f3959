/** The overlay iframe's entry (mounted in the page by src/content/mount-overlay.ts). */
import { runExtensionCall } from './extension-entry.ts';

void runExtensionCall('overlay', document.body);
