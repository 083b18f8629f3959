/** The call window: used where the overlay cannot run on the page (see WINDOW_REASONS). */
import { runExtensionCall } from './extension-entry.ts';

void runExtensionCall('window', document.body);
