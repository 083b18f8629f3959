/**
 * "Open" for a received file: a dialog inside the overlay showing it in an <img>, <video>,
 * <audio> or as text in a <pre>. Never an iframe or a navigation to the file, so nothing in
 * it can run in our origin.
 */
import { el } from '../ui/dom.ts';
import type { ViewerKind } from './type-label.ts';

const MAX_TEXT_BYTES = 1024 * 1024;

export async function openViewer(
  container: HTMLElement,
  file: File,
  name: string,
  kind: Exclude<ViewerKind, null>,
) {
  const close = el('button', { type: 'button', class: 'parley-btn parley-viewer-close' }, 'Close');
  const body = el('div', { class: 'parley-viewer-body' });
  const dialog = el(
    'div',
    { class: 'parley-viewer', role: 'dialog', 'aria-modal': 'true', 'aria-label': name },
    el('div', { class: 'parley-viewer-bar' }, el('span', { class: 'parley-viewer-title' }, name), close),
    body,
  );
  let url: string | null = null;
  const done = () => {
    if (url) URL.revokeObjectURL(url);
    dialog.remove();
    document.removeEventListener('keydown', onKey);
  };
  const onKey = (event: KeyboardEvent) => {
    if (event.key === 'Escape') done();
  };
  close.addEventListener('click', done);
  document.addEventListener('keydown', onKey);
  if (kind === 'text') {
    const text = await file.slice(0, MAX_TEXT_BYTES).text();
    const pre = el('pre', { class: 'parley-viewer-text' });
    pre.textContent = file.size > MAX_TEXT_BYTES ? `${text}\n…` : text;
    body.append(pre);
  } else {
    url = URL.createObjectURL(file);
    if (kind === 'image') body.append(el('img', { src: url, alt: name }));
    else if (kind === 'video') body.append(el('video', { src: url, controls: true, 'aria-label': name }));
    else body.append(el('audio', { src: url, controls: true, 'aria-label': name }));
  }
  container.append(dialog);
  close.focus();
  return { close: done };
}
