/**
 * The files panel: a "Send files" button, drag-and-drop and paste anywhere on the overlay,
 * and a card per file on both sides. The engine (src/call/files/) does the transfer; this
 * module only draws it. Peer-provided text (names) only ever goes into text nodes.
 */
import type { FileKeeper } from '../call/files/exchange-context.ts';
import { FileExchange } from '../call/files/file-exchange.ts';
import type { SinkFactory } from '../call/files/file-sink.ts';
import { formatSize } from '../call/files/format-size.ts';
import { sendAgainSentence } from '../call/files/incoming-files.ts';
import { PartialShelf } from '../call/files/partial-shelf.ts';
import { ThumbnailMaker } from '../call/files/thumbnail-maker.ts';
import type { Transfer } from '../call/files/transfer.ts';
import type { PeerLink } from '../call/peer-link.ts';
import { attachDropTarget } from './files/drop-target.ts';
import { FileCard } from './files/file-card.ts';
import './files/panels.css';
import { sendAgainKeysFor } from './files/send-again-keys.ts';
import { sinksFor } from './files/sinks.ts';
import { viewerKind } from './files/type-label.ts';
import { openViewer } from './files/viewer.ts';
import type { PanelContext } from './panel-context.ts';
import { el, setText } from './ui/dom.ts';

export interface FilesPanel {
  /**
   * Open the file picker for one person only (a tile's **Send files**). Call it within the
   * click: a file picker needs the user's gesture.
   */
  pickFor(peerId: string): void;
  destroy(): void;
}

/** Progress text is redrawn at most this often (several times a second, never per chunk). */
const PROGRESS_INTERVAL_MS = 200;

/**
 * `host` holds the file cards and the "Send files" button; `dropZone` is the whole overlay
 * (drag-and-drop and paste anywhere on it send files).
 */
export function mountFilesPanel(host: HTMLElement, dropZone: HTMLElement, ctx: PanelContext): FilesPanel {
  host.textContent = '';
  const picker = el('input', {
    type: 'file',
    multiple: true,
    class: 'parley-files-picker',
    'aria-label': 'Choose files to send',
    tabindex: '-1',
  });
  picker.hidden = true;
  const sendButton = el('button', { type: 'button', class: 'parley-btn parley-files-send' }, 'Send files');
  const problem = el('p', { class: 'parley-files-problem', role: 'alert' });
  const list = el('ul', { class: 'parley-files-list', 'aria-label': 'Files in this call' });
  host.append(el('div', { class: 'parley-files-bar' }, sendButton, picker), problem, list);

  const exchanges = new Map<string, FileExchange>();
  const cards = new Map<Transfer, FileCard>();
  const dirty = new Set<FileCard>();
  const thumbnails = new ThumbnailMaker();
  /** Partial files whose sender's page went away, kept for them to send again (any person's link). */
  const shelf = new PartialShelf();
  const sendAgain = sendAgainKeysFor(ctx.host);
  const announcedSendAgain = new WeakSet<Transfer>();
  let sinks: (SinkFactory & { dispose?(): Promise<void> | void }) | null = null;
  let frame = 0;
  let waiting: ReturnType<typeof setTimeout> | undefined;
  let lastDraw = 0;
  let problemTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whom the files picked next go to: one person (a tile's Send files), or null: everyone. */
  let pickTarget: string | null = null;

  function showProblem(sentence: string): void {
    setText(problem, sentence);
    clearTimeout(problemTimer);
    problemTimer = setTimeout(() => setText(problem, ''), 8000);
  }

  function peerNames(): string {
    const names = [...exchanges.values()].map((x) => x.peerName);
    if (names.length === 0) return 'the call';
    if (names.length === 1) return names[0]!;
    return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  }

  function updateSendState(): void {
    sendButton.disabled = exchanges.size === 0;
    sendButton.title =
      exchanges.size === 0
        ? 'Files can be sent once someone has joined the call.'
        : `Send files to ${peerNames()}`;
  }

  // Progress is drawn on an animation frame at most every PROGRESS_INTERVAL_MS (waiting with a
  // timer, not frame after frame: a page that asks for every frame keeps the renderer and the
  // compositor busy for the whole transfer); state changes are drawn at once.
  function schedule(): void {
    if (frame || waiting) return;
    const wait = PROGRESS_INTERVAL_MS - (performance.now() - lastDraw);
    if (wait <= 0) {
      frame = requestAnimationFrame(draw);
      return;
    }
    waiting = setTimeout(() => {
      waiting = undefined;
      schedule();
    }, wait);
  }
  function draw(now: number): void {
    frame = 0;
    lastDraw = now;
    for (const card of dirty) card.render(now);
    dirty.clear();
  }

  const events = {
    onTransfer(transfer: Transfer, continues?: Transfer) {
      const card = new FileCard(transfer, {
        cancel: (t) => {
          const exchange = exchanges.get(t.peerId);
          if (exchange) exchange.cancel(t.id);
          else shelf.cancel(t);
        },
        open: (t) => {
          const kind = viewerKind(t.mime, t.name);
          if (t.file && kind) void openViewer(dropZone, t.file, t.name, kind);
        },
      });
      cards.set(transfer, card);
      const earlier = continues && cards.get(continues);
      if (earlier) {
        // Sent again: the same card goes on, from the bytes already here.
        earlier.root.replaceWith(card.root);
        earlier.destroy();
        cards.delete(continues);
        dirty.delete(earlier);
        ctx.announce(`${transfer.peerName} sent ${transfer.name} again: it continues.`);
        return;
      }
      list.prepend(card.root);
      const what = `${transfer.name}, ${formatSize(transfer.size)}`;
      ctx.announce(transfer.direction === 'in' ? `${transfer.peerName} sent ${what}` : `You sent ${what}`);
    },
    onUpdate(transfer: Transfer) {
      const card = cards.get(transfer);
      if (!card) return;
      if (
        transfer.state === 'paused' &&
        transfer.message === sendAgainSentence(transfer.peerName) &&
        !announcedSendAgain.has(transfer)
      ) {
        announcedSendAgain.add(transfer);
        ctx.announce(`${transfer.name}: ${transfer.message}`);
      }
      if (transfer.state === 'transferring' && transfer.bytes > 0) {
        dirty.add(card);
        schedule();
      } else {
        card.render(performance.now());
      }
    },
    onProblem: showProblem,
    thumbnailShown: async (transfer: Transfer) => cards.get(transfer)?.thumbnailShown(),
  };

  function sinkFactory(): SinkFactory {
    sinks ??= sinksFor(ctx.host);
    return sinks;
  }

  function attach(link: PeerLink): void {
    exchanges.get(link.peerId)?.close('lost');
    const sinks = sinkFactory();
    const keeper = 'keep' in sinks ? (sinks as SinkFactory & FileKeeper) : undefined;
    const exchange = new FileExchange(link, { sinks, keeper, thumbnails, sendAgain, shelf }, events);
    exchanges.set(link.peerId, exchange);
    updateSendState();
  }

  /**
   * Each file goes to everyone (`to` null) or to one person: either way one transfer, one
   * card and one SHA-256 check per recipient.
   */
  function send(files: File[], to: string | null = null): void {
    if (exchanges.size === 0) {
      showProblem('Nobody else is in the call yet: files can be sent once someone joins.');
      return;
    }
    const target = to === null ? null : exchanges.get(to);
    if (target === undefined) {
      showProblem('That person is not connected any more: the files were not sent.');
      return;
    }
    const recipients = target ? [target] : [...exchanges.values()];
    for (const file of files) for (const exchange of recipients) exchange.send(file);
  }

  sendButton.addEventListener('click', () => {
    pickTarget = null;
    picker.click();
  });
  picker.addEventListener('change', () => {
    const files = [...(picker.files ?? [])];
    const to = pickTarget;
    pickTarget = null;
    picker.value = '';
    if (files.length > 0) send(files, to);
  });
  const detachDrop = attachDropTarget(dropZone, () => `Drop to send to ${peerNames()}`, send);
  const offLink = ctx.onLink(attach);
  // The call ended: nobody will send anything again here.
  const offEnded = ctx.onEnded(() => shelf.dispose());
  const offClosed = ctx.onLinkClosed((peerId, reason) => {
    exchanges.get(peerId)?.close(reason);
    exchanges.delete(peerId);
    updateSendState();
  });
  updateSendState();
  // Start storage early so stale partial files from earlier sessions are cleaned up now.
  sinkFactory();

  return {
    pickFor(peerId) {
      if (!exchanges.has(peerId)) {
        showProblem('Files can be sent to this person once they are connected.');
        return;
      }
      pickTarget = peerId;
      picker.click();
    },
    destroy() {
      offLink();
      offClosed();
      offEnded();
      detachDrop();
      for (const exchange of exchanges.values()) exchange.close('hangup');
      exchanges.clear();
      shelf.dispose();
      if (frame) cancelAnimationFrame(frame);
      clearTimeout(waiting);
      clearTimeout(problemTimer);
      thumbnails.dispose();
      for (const card of cards.values()) card.destroy();
      cards.clear();
      void sinks?.dispose?.();
      host.textContent = '';
    },
  };
}
