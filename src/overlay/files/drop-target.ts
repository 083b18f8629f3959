/**
 * Drag-and-drop and paste anywhere on the overlay: while files are dragged over it, a clear
 * target ("Drop to send to Ana") covers it.
 */
import { el, setText } from '../ui/dom.ts';

export function attachDropTarget(
  zone: HTMLElement,
  label: () => string,
  onFiles: (files: File[]) => void,
): () => void {
  const target = el('div', { class: 'parley-drop-target', 'aria-hidden': 'true' }, el('span', {}));
  target.hidden = true;
  zone.append(target);
  let depth = 0;
  const hasFiles = (event: DragEvent) => event.dataTransfer?.types.includes('Files') ?? false;
  const show = (visible: boolean) => {
    if (visible) setText(target.firstElementChild!, label());
    target.hidden = !visible;
    zone.classList.toggle('parley-dragging', visible);
  };
  const onEnter = (event: DragEvent) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth += 1;
    show(true);
  };
  const onOver = (event: DragEvent) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = 'copy';
    if (target.hidden) show(true);
  };
  const onLeave = (event: DragEvent) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) show(false);
  };
  const onDrop = (event: DragEvent) => {
    depth = 0;
    show(false);
    const files = [...(event.dataTransfer?.files ?? [])];
    if (files.length === 0) return;
    event.preventDefault();
    onFiles(files);
  };
  const onPaste = (event: ClipboardEvent) => {
    const files = [...(event.clipboardData?.files ?? [])];
    if (files.length === 0) return;
    event.preventDefault();
    onFiles(files);
  };
  zone.addEventListener('dragenter', onEnter);
  zone.addEventListener('dragover', onOver);
  zone.addEventListener('dragleave', onLeave);
  zone.addEventListener('drop', onDrop);
  const doc = zone.ownerDocument;
  doc.addEventListener('paste', onPaste);
  return () => {
    zone.removeEventListener('dragenter', onEnter);
    zone.removeEventListener('dragover', onOver);
    zone.removeEventListener('dragleave', onLeave);
    zone.removeEventListener('drop', onDrop);
    doc.removeEventListener('paste', onPaste);
    target.remove();
  };
}
