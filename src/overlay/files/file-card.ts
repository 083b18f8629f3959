/**
 * One file on the call, on either side: thumbnail (or a type label), name, size, and while
 * it moves a dimmed thumbnail with percent, a <progress>, speed and time left; then Open and
 * Save for the receiver, or a sentence saying what happened.
 */
import { formatSeconds, formatSize } from '../../call/files/format-size.ts';
import { isFinished, type Transfer } from '../../call/files/transfer.ts';
import { el, setAttr, setHidden, setText } from '../ui/dom.ts';
import { typeLabel, viewerKind } from './type-label.ts';

export interface CardActions {
  cancel(transfer: Transfer): void;
  open(transfer: Transfer): void;
}

/** Speed over the last few seconds, not since the start (a stall shows). */
const SPEED_WINDOW_MS = 3000;

export class FileCard {
  readonly root: HTMLLIElement;
  private readonly thumb: HTMLDivElement;
  private readonly percent: HTMLSpanElement;
  private readonly progress: HTMLProgressElement;
  private readonly status: HTMLSpanElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly openButton: HTMLButtonElement;
  private readonly saveLink: HTMLAnchorElement;
  private thumbUrl: string | null = null;
  private shownThumbnail: Blob | null = null;
  private saveUrl: string | null = null;
  private samples: { at: number; bytes: number }[] = [];

  constructor(
    readonly transfer: Transfer,
    private readonly actions: CardActions,
  ) {
    const { name, size, direction } = transfer;
    const verb = direction === 'out' ? 'Sending' : 'Receiving';
    this.thumb = el(
      'div',
      { class: 'parley-file-thumb' },
      el('span', { class: 'parley-file-type' }, typeLabel(transfer.mime, name)),
    );
    this.percent = el('span', { class: 'parley-file-percent', 'aria-hidden': 'true' });
    this.thumb.append(this.percent);
    this.progress = el('progress', {
      class: 'parley-file-progress',
      max: String(Math.max(size, 1)),
      'aria-label': `${verb} ${name}`,
    });
    this.progress.value = 0;
    this.status = el('span', { class: 'parley-file-status' });
    this.cancelButton = el(
      'button',
      { type: 'button', class: 'parley-btn parley-file-cancel', 'aria-label': `Cancel ${name}` },
      'Cancel',
    );
    this.cancelButton.addEventListener('click', () => this.actions.cancel(this.transfer));
    this.openButton = el(
      'button',
      { type: 'button', class: 'parley-btn parley-file-open', 'aria-label': `Open ${name}` },
      'Open',
    );
    this.openButton.addEventListener('click', () => this.actions.open(this.transfer));
    this.saveLink = el(
      'a',
      { class: 'parley-btn parley-file-save', download: name, 'aria-label': `Save ${name}`, role: 'button' },
      'Save',
    );
    this.openButton.hidden = true;
    this.saveLink.hidden = true;
    this.root = el(
      'li',
      { class: 'parley-file', 'data-direction': direction },
      this.thumb,
      el(
        'div',
        { class: 'parley-file-info' },
        el('span', { class: 'parley-file-name', title: name }, name),
        el(
          'span',
          { class: 'parley-file-size' },
          direction === 'out'
            ? `${formatSize(size)} to ${transfer.peerName}`
            : `${formatSize(size)} from ${transfer.peerName}`,
        ),
        this.progress,
        this.status,
        el('div', { class: 'parley-file-actions' }, this.cancelButton, this.openButton, this.saveLink),
      ),
    );
    this.render(performance.now());
  }

  /** Everything but progress text is cheap; call on every state change. Progress: a few times a second. */
  render(now: number): void {
    const t = this.transfer;
    setAttr(this.root, 'data-state', t.state);
    this.renderThumbnail();
    const active = !isFinished(t);
    setHidden(this.cancelButton, !active);
    this.progress.value = t.state === 'done' ? Math.max(t.size, 1) : t.bytes;
    setHidden(this.progress, !active);
    const fraction = t.size === 0 ? (t.state === 'done' ? 1 : 0) : t.bytes / t.size;
    setText(this.percent, active ? `${Math.floor(fraction * 100)}%` : '');
    setText(this.status, this.statusText(now, fraction));
    if (t.state === 'done' && t.direction === 'in' && t.file) this.offerFile(t.file);
  }

  private statusText(now: number, fraction: number): string {
    const t = this.transfer;
    const peer = t.peerName;
    switch (t.state) {
      case 'preparing':
        return t.direction === 'out' ? 'Preparing…' : 'Starting…';
      case 'transferring': {
        this.samples.push({ at: now, bytes: t.bytes });
        while (this.samples.length > 2 && now - this.samples[0]!.at > SPEED_WINDOW_MS) this.samples.shift();
        const first = this.samples[0]!;
        const seconds = (now - first.at) / 1000;
        const speed = seconds > 0.3 ? (t.bytes - first.bytes) / seconds : 0;
        const parts = [`${Math.floor(fraction * 100)}%`];
        if (speed > 0) {
          parts.push(`${formatSize(speed)}/s`);
          parts.push(`${formatSeconds((t.size - t.bytes) / speed)} left`);
        }
        return parts.join(' · ');
      }
      case 'paused':
        return t.message ?? 'Paused: reconnecting…';
      case 'verifying':
        return 'Checking…';
      case 'done':
        return t.direction === 'out' ? `Sent to ${peer}` : 'Received and verified';
      case 'cancelled':
        return t.cancelledBy === 'peer' ? `Cancelled by ${peer}` : 'Cancelled';
      case 'corrupted':
        return t.direction === 'in'
          ? 'Corrupted — not saved'
          : (t.message ?? 'Corrupted on the way — not saved');
      case 'interrupted':
        return t.message ?? 'Interrupted';
      case 'failed':
        return t.message ?? 'Failed';
    }
  }

  private renderThumbnail(): void {
    const { thumbnail, thumbnailProblem } = this.transfer;
    if (thumbnail && thumbnail !== this.shownThumbnail) {
      this.shownThumbnail = thumbnail;
      if (this.thumbUrl) URL.revokeObjectURL(this.thumbUrl);
      this.thumbUrl = URL.createObjectURL(thumbnail);
      this.thumb.querySelector('img')?.remove();
      this.thumb.prepend(
        el('img', {
          class: 'parley-file-thumb-img',
          src: this.thumbUrl,
          alt: `Preview of ${this.transfer.name}`,
        }),
      );
      this.thumb.classList.add('has-image');
    }
    if (thumbnailProblem) setAttr(this.thumb, 'title', thumbnailProblem);
  }

  private offerFile(file: File): void {
    if (this.saveUrl) return;
    // Saved as bytes (octet-stream): following the link can only download, never render.
    this.saveUrl = URL.createObjectURL(new Blob([file], { type: 'application/octet-stream' }));
    this.saveLink.href = this.saveUrl;
    this.saveLink.hidden = false;
    this.openButton.hidden = viewerKind(this.transfer.mime, this.transfer.name) === null;
  }

  /** Resolves when the thumbnail image is decoded and on screen. */
  async thumbnailShown(): Promise<void> {
    const img = this.thumb.querySelector('img');
    if (!img) return;
    await img.decode().catch(() => {});
    await new Promise<void>((resolve) => requestAnimationFrame(() => resolve()));
  }

  destroy(): void {
    if (this.thumbUrl) URL.revokeObjectURL(this.thumbUrl);
    if (this.saveUrl) URL.revokeObjectURL(this.saveUrl);
    this.root.remove();
  }
}
