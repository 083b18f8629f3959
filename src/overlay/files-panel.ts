// STUB — owned by the files/chat work (issue #4). Signature is the contract with app.ts.
import type { PanelContext } from './panel-context.ts';

export interface FilesPanel {
  destroy(): void;
}

/**
 * `host` holds the file cards and the "Send files" button; `dropZone` is the whole overlay
 * (drag-and-drop and paste anywhere on it send files).
 */
export function mountFilesPanel(host: HTMLElement, _dropZone: HTMLElement, _ctx: PanelContext): FilesPanel {
  host.textContent = '';
  return { destroy() {} };
}
