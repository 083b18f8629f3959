/**
 * Recording in the call UI: the **Record** button (then **Cancel recording** while others are
 * asked, **Stop recording** while it runs), the question others' requests put to us ("Ana
 * wants to record this call", **Allow** / **Decline**), the red **Recording** indicator naming
 * who records, sentences such as "Bo declined recording", and the finished file with **Open**
 * and **Save**. The consent is src/call/recording/consent.ts; the recording itself
 * src/call/recording/call-recording.ts. Names from peers only ever go into text nodes.
 */
import type { SinkFactory } from '../call/files/file-sink.ts';
import { formatSize } from '../call/files/format-size.ts';
import type { PeerLink } from '../call/peer-link.ts';
import { CallRecording } from '../call/recording/call-recording.ts';
import { type OwnPhase, RecordingConsent } from '../call/recording/consent.ts';
import { canRecord } from '../call/recording/recorder.ts';
import type { CallSession } from '../call/session.ts';
import { RECORDING_TYPES } from '../protocol/peer-recording.ts';
import { sinksFor } from './files/sinks.ts';
import { openViewer } from './files/viewer.ts';
import type { PanelContext } from './panel-context.ts';
import { button, el, setAttr, setHidden, setText } from './ui/dom.ts';

export interface RecordingPanel {
  /** Record / Cancel recording / Stop recording, for the call's controls. */
  readonly button: HTMLButtonElement;
  /** The red indicator, for the top bar. */
  readonly indicator: HTMLElement;
  /** Questions and sentences, over the stage. */
  readonly element: HTMLElement;
  /** Finished recordings (Open / Save); the UI moves it onto the end screen when the call ends. */
  readonly files: HTMLElement;
  /** Call on every render of the UI (the button depends on who is in the call). */
  render(): void;
  destroy(): void;
}

/** How long a sentence ("Bo declined recording") stays. */
const SENTENCE_MS = 10_000;

export function mountRecordingPanel(
  ctx: Omit<PanelContext, 'announce'>,
  session: CallSession,
  /** Where Open shows the file. */
  viewerHost: HTMLElement,
  /** A question for the person came (the UI un-minimizes to show it). */
  attention: () => void = () => {},
): RecordingPanel {
  const links = new Map<string, PeerLink>();
  const offs: Array<() => void> = [];
  let recording: CallRecording | null = null;
  let sinks: (SinkFactory & { dispose?(): Promise<void> | void }) | null = null;
  let sentenceTimer: ReturnType<typeof setTimeout> | undefined;
  const cards: RecordingCard[] = [];

  const recordBtn = button('Record', 'parley-btn parley-ctl parley-record', () => onRecordClick());
  recordBtn.setAttribute('aria-pressed', 'false');
  recordBtn.hidden = !canRecord();
  const indicator = el('span', { class: 'parley-recording', role: 'status' });
  indicator.hidden = true;
  const questions = el('div', { class: 'parley-rec-questions' });
  const sentence = el('p', { class: 'parley-rec-sentence', role: 'status', 'aria-live': 'polite' });
  sentence.hidden = true;
  const element = el('div', { class: 'parley-rec' }, questions, sentence);
  const files = el('ul', { class: 'parley-files-list parley-rec-files', 'aria-label': 'Recordings' });
  files.hidden = true;

  const consent = new RecordingConsent(ctx.localName, {
    send: (peerId, message) => void links.get(peerId)?.send(message),
    ownPhase: (phase) => onOwnPhase(phase),
    changed: (text) => {
      if (text) say(text);
      render();
    },
  });

  function say(text: string): void {
    setText(sentence, text);
    sentence.hidden = false;
    clearTimeout(sentenceTimer);
    sentenceTimer = setTimeout(() => {
      sentence.hidden = true;
      setText(sentence, '');
    }, SENTENCE_MS);
  }

  /** The person as consent sees them: their name is read when shown (it comes with their hello). */
  function peerOf(link: PeerLink) {
    return {
      id: link.peerId,
      get name() {
        return link.remoteName();
      },
    };
  }

  function quiet(): void {
    clearTimeout(sentenceTimer);
    sentence.hidden = true;
    setText(sentence, '');
  }

  function onRecordClick(): void {
    if (consent.own) {
      consent.stop(consent.own.phase === 'asking' ? 'Recording request cancelled' : 'Recording stopped');
      return;
    }
    const peers = [...links.values()].filter((l) => l.state !== 'closed').map(peerOf);
    if (peers.length === 0) {
      say('Recording needs someone else in the call to allow it.');
      return;
    }
    quiet();
    sinks ??= sinksFor(ctx.host);
    try {
      // Made in the click: its audio needs the click's user activation.
      recording = new CallRecording({
        session,
        recordable: (peerId) => consent.recordable(peerId),
        sinks,
        onError: (message) => {
          say(message);
          consent.stop();
        },
      });
    } catch (err) {
      say(err instanceof Error ? err.message : 'This browser cannot record the call.');
      return;
    }
    if (!consent.request(peers)) {
      recording.discard();
      recording = null;
    }
  }

  function onOwnPhase(phase: OwnPhase | null): void {
    const current = recording;
    if (!current) return;
    if (phase === 'recording') {
      current.run().catch((err: unknown) => {
        say(err instanceof Error ? err.message : 'The recording could not start.');
        consent.stop();
      });
    } else if (phase === 'paused') {
      current.pause();
    } else if (phase === null) {
      recording = null;
      void finish(current);
    }
  }

  async function finish(current: CallRecording): Promise<void> {
    if (!current.started) {
      current.discard();
      return;
    }
    const card = new RecordingCard(viewerHost);
    cards.push(card);
    files.prepend(card.root);
    files.hidden = false;
    try {
      const file = await current.finish();
      if (file) card.done(file);
      else card.remove();
    } catch (err) {
      card.failed(err instanceof Error ? err.message : 'The recording could not be saved.');
    }
  }

  function render(): void {
    const own = consent.own;
    const inCall = session.status.state !== 'ended';
    const [label, short] = !own
      ? ['Record', 'Record']
      : own.phase === 'asking'
        ? ['Cancel recording', 'Cancel']
        : ['Stop recording', 'Stop rec'];
    if (recordBtn.getAttribute('aria-label') !== label) {
      // The full name always; a shorter visible word where space is tight (app.css).
      recordBtn.setAttribute('aria-label', label);
      recordBtn.replaceChildren(
        el('span', { class: 'parley-label-long', 'aria-hidden': 'true' }, label),
        el('span', { class: 'parley-label-short', 'aria-hidden': 'true' }, short),
      );
    }
    setAttr(recordBtn, 'aria-pressed', own && own.phase !== 'asking' ? 'true' : 'false');
    recordBtn.disabled = !inCall || (!own && links.size === 0);

    // The indicator: shown from the moment anyone may record until it stops.
    const names: string[] = [];
    let running = false;
    if (own && own.phase !== 'asking') {
      names.push('you');
      running ||= own.phase === 'recording';
    }
    for (const r of consent.recorders) {
      names.push(r.name);
      running ||= r.state !== 'paused';
    }
    const waiting = own?.phase === 'paused' ? consent.waitingFor : [];
    const text =
      names.length === 0
        ? ''
        : `${running ? 'Recording' : 'Recording paused'} · ${names.join(', ')}` +
          (waiting.length ? ` (waiting for ${waiting.join(', ')} to allow)` : '');
    indicator.replaceChildren(el('span', { class: 'parley-rec-dot', 'aria-hidden': 'true' }), text);
    setAttr(indicator, 'data-state', running ? 'recording' : 'paused');
    setHidden(indicator, names.length === 0 || !inCall);

    // Asking: who we wait for.
    if (own?.phase === 'asking') {
      const who = consent.waitingFor;
      setText(sentence, who.length ? `Asking ${who.join(', ')} to allow recording…` : '');
      sentence.hidden = who.length === 0;
      clearTimeout(sentenceTimer);
    }

    // Questions to us.
    const asked = consent.questions;
    const shown = new Set<string>();
    for (const { peerId, recording: r } of asked) {
      const key = `${peerId}\n${r.id}`;
      shown.add(key);
      const text = `${r.peer.name} wants to record this call`;
      const existing = questions.querySelector(`[data-key="${CSS.escape(key)}"] p`);
      if (existing) {
        setText(existing, text);
        continue;
      }
      const allow = button('Allow', 'parley-btn parley-btn-primary', () => consent.answer(peerId, true));
      const decline = button('Decline', 'parley-btn', () => consent.answer(peerId, false));
      const question = el(
        'div',
        { class: 'parley-rec-ask', role: 'alertdialog', 'aria-label': 'Recording request', 'data-key': key },
        el('p', {}, text),
        el('div', { class: 'parley-rec-ask-actions' }, allow, decline),
      );
      questions.append(question);
      quiet();
      attention();
      allow.focus({ preventScroll: true });
    }
    for (const node of [...questions.children] as HTMLElement[]) {
      if (!shown.has(node.dataset.key ?? '') || !inCall) node.remove();
    }
  }

  offs.push(
    ctx.onLink((link) => {
      links.set(link.peerId, link);
      offs.push(
        link.route(RECORDING_TYPES, (message) => {
          if (!consent.receive(peerOf(link), message)) {
            console.warn('Parley: ignored a malformed recording message from a peer');
          }
        }),
      );
      consent.peerJoined(peerOf(link));
      render();
    }),
    ctx.onLinkClosed((peerId) => {
      links.delete(peerId);
      consent.peerLeft(peerId);
      render();
    }),
    session.on('status', (status) => {
      // Hang-up (or the call lost): the recording is finished and offered.
      if (status.state === 'ended') consent.stop();
      render();
    }),
  );
  render();

  return {
    button: recordBtn,
    indicator,
    element,
    files,
    render,
    destroy() {
      for (const off of offs.splice(0)) off();
      clearTimeout(sentenceTimer);
      recording?.discard();
      recording = null;
      for (const card of cards) card.remove();
      void sinks?.dispose?.();
    },
  };
}

/** A finished recording: name, size, Open, Save (like a received file's card). */
class RecordingCard {
  readonly root: HTMLLIElement;
  readonly #name = el('span', { class: 'parley-file-name' }, 'Recording');
  readonly #status = el('span', { class: 'parley-file-status' }, 'Saving the recording…');
  readonly #open = el('button', { type: 'button', class: 'parley-btn parley-file-open' }, 'Open');
  readonly #save = el('a', { class: 'parley-btn parley-file-save', role: 'button' }, 'Save');
  #url: string | null = null;

  constructor(private readonly viewerHost: HTMLElement) {
    this.#open.hidden = true;
    this.#save.hidden = true;
    this.root = el(
      'li',
      { class: 'parley-file parley-rec-file', 'data-state': 'saving' },
      el('div', { class: 'parley-file-thumb' }, el('span', { class: 'parley-file-type' }, 'REC')),
      el(
        'div',
        { class: 'parley-file-info' },
        this.#name,
        this.#status,
        el('div', { class: 'parley-file-actions' }, this.#open, this.#save),
      ),
    );
  }

  done(file: File): void {
    setText(this.#name, file.name);
    setText(this.#status, `Recording, ${formatSize(file.size)}`);
    this.root.dataset.state = 'done';
    // Saved as bytes: following the link can only download.
    this.#url = URL.createObjectURL(new Blob([file], { type: 'application/octet-stream' }));
    this.#save.href = this.#url;
    this.#save.download = file.name;
    setAttr(this.#save, 'aria-label', `Save ${file.name}`);
    setAttr(this.#open, 'aria-label', `Open ${file.name}`);
    this.#open.addEventListener('click', () => void openViewer(this.viewerHost, file, file.name, 'video'));
    this.#open.hidden = false;
    this.#save.hidden = false;
  }

  failed(message: string): void {
    this.root.dataset.state = 'failed';
    setText(this.#status, message);
  }

  remove(): void {
    if (this.#url) URL.revokeObjectURL(this.#url);
    this.#url = null;
    this.root.remove();
  }
}
