/**
 * The call UI, shared by the extension overlay (src/overlay/extension-entry.ts) and the guest
 * page (src/guest/main.ts). Plain DOM and CSS, no framework. It owns a CallSession and draws
 * what a person needs: the videos, who is muted, the timer, the connection quality, the
 * share link, the controls, the end states; and it hosts the chat and files panels.
 *
 * Nothing that comes from the peer is ever put in innerHTML (see ./ui/dom.ts).
 */
import './app.css';
import { checkCapabilities } from '../call/capabilities.ts';
import type { DescriptionAuth } from '../call/description-auth.ts';
import { acquireLocalMedia, type CallMedia, MediaAccessError } from '../call/media.ts';
import type { PeerLink } from '../call/peer-link.ts';
import { type ScreenCapture, ScreenShareError } from '../call/screen-share.ts';
import { CallSession, type CallStatus } from '../call/session.ts';
import type { Signaling } from '../call/signaling.ts';
import { describeQuality } from '../call/stats.ts';
import { formatShareLink, type ShareLink } from '../protocol/link.ts';
import { type ChatEntry, type ChatPanel, mountChatPanel } from './chat-panel.ts';
import type { ContactIdentity } from './contact-exchange.ts';
import { mountContactPanel } from './contact-panel.ts';
import { type FilesPanel, mountFilesPanel } from './files-panel.ts';
import type { PanelContext } from './panel-context.ts';
import { mountPeoplePanel } from './people-panel.ts';
import { mountRecordingPanel, type RecordingPanel } from './recording-panel.ts';
import { mountTiles } from './tiles.ts';
import { button, el, setAttr, setHidden, setText } from './ui/dom.ts';
import { formatDuration, initial } from './ui/format.ts';

export interface CallAppHooks {
  /** Put text on the clipboard (the extension may need its own way); default: Clipboard API. */
  copyText?(text: string): Promise<boolean | undefined> | Promise<void>;
  /** The person minimized or restored the call (the extension resizes its frame). */
  onMinimizeChange?(minimized: boolean): void;
  /** The call reached an end state (called once). */
  onEnded?(): void;
  /** The person pressed Close on the end screen; default: calls onEnded. */
  onClose?(): void;
  /** The call connected for the first time, at this time (ms since the epoch). */
  onFirstConnected?(at: number): void;
  /** A new line in the chat (message or event), to keep for a later page of the same call. */
  onChatEntry?(entry: ChatEntry): void;
  /**
   * The overlay on a page: "Share this tab" is offered, and this makes a capture of the tab
   * show the page without the overlay (throws ScreenShareError when it cannot).
   */
  restrictTabCapture?(capture: ScreenCapture): Promise<void>;
}

export interface CallAppOptions {
  signaling: Signaling;
  link: ShareLink;
  /** The share link as text; default formatShareLink(link). */
  url?: string;
  media: CallMedia;
  localName: string;
  host: 'guest' | 'extension';
  hooks?: CallAppHooks;
  /**
   * Media already acquired, or being acquired (the guest page starts the camera on its join
   * card); undefined from the promise means "ask again here" (and show what went wrong).
   */
  localStream?: MediaStream | Promise<MediaStream | undefined>;
  /** Video calls only: start with the camera off (no camera is asked for until turned on). */
  camera?: boolean;
  /**
   * The call connected before, on an earlier page (ms since the epoch): the call timer counts
   * from then, not from this page's connection.
   */
  connectedAt?: number;
  /** The chat so far, from an earlier page of the same call. */
  chatHistory?: readonly ChatEntry[];
  /** Ringing this contact: "Calling Ana…" while waiting, instead of the share link. */
  calling?: string;
  /** How descriptions are verified; the link secret's MAC unless given (calls between contacts). */
  auth?: DescriptionAuth;
  /** The extension's identity, for **Save contact** (none on the guest page). */
  contacts?: ContactIdentity;
}

export interface CallApp {
  session: CallSession;
  destroy(): void;
}

const END_TITLES: Record<NonNullable<CallStatus['reason']>, string> = {
  hangup: 'Call ended',
  'remote-hangup': 'Call ended',
  lost: 'Connection lost',
  unverified: 'Call not verified',
  'room-full': 'This call is full',
  error: 'The call could not continue',
};

async function defaultCopy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

export function mountCallApp(root: HTMLElement, options: CallAppOptions): CallApp {
  const { hooks = {}, media } = options;
  const url = options.url ?? formatShareLink(options.link);
  const session = new CallSession({
    signaling: options.signaling,
    room: options.link.room,
    secret: options.link.secret,
    media,
    localName: options.localName,
    ...(options.auth ? { auth: options.auth } : {}),
  });
  const cleanups: Array<() => void> = [];
  let minimized = false;
  let chatOpen = false;
  let peopleOpen = false;
  let unread = 0;
  let endedReported = false;
  let notice: string | null = null;
  let mediaReady = false;
  let cameraBusy = false;

  // ---------- structure ----------
  const app = el('div', {
    class: 'parley-app',
    'data-media': media,
    'data-host': options.host,
    'data-state': 'starting',
  });

  // The small overlay (not the call window, not the guest page on a phone-sized screen too).
  const compactQuery =
    typeof matchMedia === 'function' ? matchMedia('(max-width: 639px), (max-height: 420px)') : null;
  const tiles = mountTiles({
    media,
    compact: () => compactQuery?.matches ?? false,
    soundBlocked: () => {
      soundBtn.hidden = false;
    },
    sendFiles: (peerId) => files?.pickFor(peerId),
  });

  const statusText = el('p', { class: 'parley-status-text' });
  const linkText = el('span', { class: 'parley-link-text', translate: 'no' }, url);
  const shareCopy = button('Copy link', 'parley-btn parley-btn-primary', () => void copyLink());
  const share = el(
    'div',
    { class: 'parley-share' },
    el('span', { class: 'parley-share-label' }, 'Send this link to the person you want to call:'),
    linkText,
    shareCopy,
  );
  const statusPanel = el(
    'div',
    { class: 'parley-status', role: 'status', 'aria-live': 'polite' },
    statusText,
    share,
  );

  const localVideo = el('video', {
    class: 'parley-local-video',
    playsinline: true,
    autoplay: true,
    'aria-label': 'Your camera',
  });
  localVideo.muted = true;
  const localOff = el(
    'div',
    { class: 'parley-local-off', 'aria-hidden': 'true' },
    initial(options.localName),
  );
  const local = el('div', { class: 'parley-local' }, localVideo, localOff);
  if (media === 'audio') local.hidden = true;

  const timer = el('span', { class: 'parley-timer', role: 'timer', 'aria-label': 'Call time' }, '0:00');
  const qualityText = el('span', { class: 'parley-quality-text', 'aria-hidden': 'true' });
  const quality = el(
    'span',
    {
      class: 'parley-quality',
      role: 'img',
      'data-quality': 'unknown',
      'aria-label': 'Connection quality unknown',
    },
    el('span', { class: 'parley-bars', 'aria-hidden': 'true' }, el('i'), el('i'), el('i')),
    qualityText,
  );
  const minimizeBtn = button('Minimize', 'parley-btn parley-btn-icon parley-minimize', () =>
    setMinimized(!minimized),
  );
  const title = el(
    'span',
    { class: 'parley-title' },
    media === 'video' ? 'Parley video call' : 'Parley audio call',
  );
  const topbar = el(
    'div',
    { class: 'parley-topbar' },
    title,
    timer,
    quality,
    tiles.layoutToggle,
    minimizeBtn,
  );

  const noticeBox = el('p', { class: 'parley-notice', role: 'alert' });
  noticeBox.hidden = true;
  const soundBtn = button('Turn sound on', 'parley-btn parley-btn-primary parley-sound', () => {
    tiles.unmuteAll();
    soundBtn.hidden = true;
  });
  soundBtn.hidden = true;

  const sharingNote = el('p', { class: 'parley-sharing', role: 'status' });
  sharingNote.hidden = true;

  const stage = el(
    'div',
    { class: 'parley-stage' },
    tiles.element,
    statusPanel,
    local,
    sharingNote,
    noticeBox,
    soundBtn,
  );

  /** Full accessible name always; a shorter visible word where space is tight (CSS). */
  function label(btn: HTMLButtonElement, full: string, short: string): void {
    if (btn.getAttribute('aria-label') === full) return;
    btn.setAttribute('aria-label', full);
    const badgeEl = btn.querySelector('.parley-badge');
    btn.replaceChildren(
      el('span', { class: 'parley-label-long', 'aria-hidden': 'true' }, full),
      el('span', { class: 'parley-label-short', 'aria-hidden': 'true' }, short),
      ...(badgeEl ? [badgeEl] : []),
    );
  }

  const muteBtn = button('Mute microphone', 'parley-btn parley-ctl parley-mute', () => {
    session.setMicEnabled(!session.micOn);
    render();
  });
  muteBtn.setAttribute('aria-pressed', 'false');
  const cameraBtn = button(
    'Turn camera off',
    'parley-btn parley-ctl parley-camera',
    () => void toggleCamera(),
  );
  cameraBtn.setAttribute('aria-pressed', 'false');
  if (media === 'audio') cameraBtn.hidden = true;
  const badge = el('span', { class: 'parley-badge' });
  badge.hidden = true;
  const chatBtn = button('Chat', 'parley-btn parley-ctl parley-chat-toggle', () => {
    chatOpen = !chatOpen;
    render();
  });
  chatBtn.append(badge);
  chatBtn.setAttribute('aria-pressed', 'false');
  const peopleBtn = button('People', 'parley-btn parley-ctl parley-people-toggle', () => {
    peopleOpen = !peopleOpen;
    render();
  });
  peopleBtn.setAttribute('aria-pressed', 'false');
  const shareBtn = button('Share screen', 'parley-btn parley-ctl parley-share-screen', () =>
    toggleShare('screen'),
  );
  shareBtn.setAttribute('aria-pressed', 'false');
  // Phones and some embedded browsers cannot capture a screen: no button rather than an error.
  shareBtn.hidden = typeof navigator.mediaDevices?.getDisplayMedia !== 'function';
  const restrictTab = hooks.restrictTabCapture;
  const shareTabBtn = button('Share this tab', 'parley-btn parley-ctl parley-share-tab', () =>
    toggleShare('tab'),
  );
  shareTabBtn.hidden = !restrictTab;
  const copyBtn = button('Copy link', 'parley-btn parley-ctl parley-copy', () => void copyLink());
  label(copyBtn, 'Copy link', 'Link');
  const hangUpBtn = button('Hang up', 'parley-btn parley-ctl parley-hangup', () => session.hangUp());
  const copied = el('span', { class: 'parley-copied', role: 'status', 'aria-live': 'polite' });
  const controls = el(
    'div',
    { class: 'parley-controls', role: 'toolbar', 'aria-label': 'Call controls' },
    muteBtn,
    cameraBtn,
    shareTabBtn,
    shareBtn,
    chatBtn,
    peopleBtn,
    copyBtn,
    hangUpBtn,
    copied,
  );

  const filesHost = el('section', { class: 'parley-files', 'aria-label': 'Files' });
  const chatHost = el('section', { class: 'parley-chat', 'aria-label': 'Chat' });
  chatHost.hidden = true;
  const peopleHost = el('section', { class: 'parley-people', 'aria-label': 'People' });
  peopleHost.hidden = true;
  const people = mountPeoplePanel(peopleHost, media);
  const side = el('div', { class: 'parley-side' }, filesHost, peopleHost, chatHost);

  const endTitle = el('h2', { class: 'parley-end-title' });
  const endMessage = el('p', { class: 'parley-end-message' });
  const closeBtn = button('Close', 'parley-btn parley-btn-primary', () => {
    if (hooks.onClose) hooks.onClose();
    else hooks.onEnded?.();
  });
  const endScreen = el(
    'div',
    { class: 'parley-end', role: 'alertdialog', 'aria-labelledby': 'parley-end-title' },
    endTitle,
    endMessage,
    closeBtn,
  );
  endTitle.id = 'parley-end-title';
  endScreen.hidden = true;

  const mediaErrorText = el('p', { class: 'parley-media-error-text' });
  const audioOnlyBtn = button(
    'Continue with audio only',
    'parley-btn parley-btn-primary',
    () => void startWithMedia('audio'),
  );
  const retryBtn = button('Try again', 'parley-btn', () => void startWithMedia(media));
  const mediaError = el(
    'div',
    { class: 'parley-media-error', role: 'alert' },
    mediaErrorText,
    audioOnlyBtn,
    retryBtn,
  );
  mediaError.hidden = true;

  const main = el('div', { class: 'parley-main' }, stage, side);
  const contactHost = el('section', { class: 'parley-contact', 'aria-label': 'Contact' });
  app.append(topbar, contactHost, main, controls, mediaError, endScreen);
  root.append(app);

  // ---------- panels ----------
  const links = new Map<string, PeerLink>();
  const linkHandlers = new Set<(link: PeerLink) => void>();
  const closedHandlers = new Set<(peerId: string, reason: 'hangup' | 'lost' | 'left') => void>();
  cleanups.push(
    session.on('link', (link) => {
      links.set(link.peerId, link);
      for (const h of [...linkHandlers]) h(link);
    }),
    session.on('linkClosed', (peerId, reason) => {
      links.delete(peerId);
      for (const h of [...closedHandlers]) h(peerId, reason);
    }),
  );
  const baseContext: Omit<PanelContext, 'announce'> = {
    localName: options.localName,
    host: options.host,
    onLink(handler) {
      linkHandlers.add(handler);
      for (const link of links.values()) handler(link);
      return () => linkHandlers.delete(handler);
    },
    onLinkClosed(handler) {
      closedHandlers.add(handler);
      return () => closedHandlers.delete(handler);
    },
    onEnded(handler) {
      let called = false;
      const call = () => {
        if (called || session.status.state !== 'ended') return;
        called = true;
        handler();
      };
      const off = session.on('status', call);
      call();
      return off;
    },
  };
  try {
    cleanups.push(
      mountContactPanel(contactHost, baseContext, {
        callId: options.link.room,
        selfId: () => session.signalingId,
        endCall: (message) => session.endWith(message, 'hangup'),
        identity: options.contacts ?? null,
      }),
    );
  } catch (err) {
    console.error('Parley: the contact panel failed to start', err);
  }
  let chat: ChatPanel | null = null;
  let files: FilesPanel | null = null;
  try {
    chat = mountChatPanel(chatHost, baseContext, {
      ...(options.chatHistory ? { history: options.chatHistory } : {}),
      ...(hooks.onChatEntry ? { onEntry: hooks.onChatEntry } : {}),
    });
    chat.onUnreadChange((count) => {
      unread = count;
      render();
    });
  } catch (err) {
    console.error('Parley: the chat panel failed to start', err);
  }
  let recorder: RecordingPanel | null = null;
  try {
    recorder = mountRecordingPanel(baseContext, session, app, () => setMinimized(false));
    controls.insertBefore(recorder.button, chatBtn);
    timer.after(recorder.indicator);
    stage.append(recorder.element);
    side.prepend(recorder.files);
  } catch (err) {
    console.error('Parley: recording failed to start', err);
  }
  try {
    files = mountFilesPanel(filesHost, app, { ...baseContext, announce: (text) => chat?.announce(text) });
  } catch (err) {
    console.error('Parley: the files panel failed to start', err);
  }

  // ---------- behaviour ----------
  let copiedTimer: ReturnType<typeof setTimeout> | undefined;
  async function copyLink(): Promise<void> {
    const copy = hooks.copyText ?? defaultCopy;
    let ok: unknown;
    try {
      ok = await copy(url);
    } catch {
      ok = false;
    }
    setText(copied, ok === false ? 'Could not copy: select the link and copy it yourself.' : 'Link copied');
    clearTimeout(copiedTimer);
    copiedTimer = setTimeout(() => setText(copied, ''), 2500);
  }

  async function toggleCamera(): Promise<void> {
    cameraBusy = true;
    render();
    try {
      await session.setCameraEnabled(!session.cameraOn);
      notice = null;
    } catch (err) {
      notice = err instanceof MediaAccessError ? err.message : 'The camera could not be turned on.';
    } finally {
      cameraBusy = false;
      render();
    }
  }

  /** Must run inside the click: the picker needs its user activation (nothing awaited first). */
  function toggleShare(what: 'screen' | 'tab'): void {
    if (session.screen) {
      session.stopSharing();
      return;
    }
    session.shareScreen(what, what === 'tab' ? restrictTab : undefined).then(
      () => {
        if (notice?.startsWith('The screen') || notice?.startsWith('Parley could not keep')) notice = null;
        render();
      },
      (err: unknown) => {
        if (err instanceof ScreenShareError && err.code === 'cancelled') return;
        notice = err instanceof ScreenShareError ? err.message : 'The screen could not be shared. Try again.';
        render();
      },
    );
  }

  function setMinimized(value: boolean): void {
    if (minimized === value) return;
    minimized = value;
    hooks.onMinimizeChange?.(minimized);
    render();
  }

  let joinRequested = false;

  async function startWithMedia(kind: CallMedia): Promise<void> {
    mediaError.hidden = true;
    app.dataset.state = 'starting';
    setText(statusText, media === 'video' && kind === 'video' ? 'Starting camera…' : 'Starting microphone…');
    const acquiring = (async () =>
      (await options.localStream) ?? (await acquireLocalMedia(options.camera === false ? 'audio' : kind)))();
    if (!joinRequested) {
      // Join now, not after the devices: the connection is made while the camera starts, and
      // our tracks go into it when they are ready (session.start with a promise). (Joining
      // after the call screen's first paint instead was measured: slower, 1.25× against
      // 1.14× link → video in four alternating bench:call runs each.)
      joinRequested = true;
      void session.start(acquiring.catch(() => undefined));
    }
    let stream: MediaStream;
    try {
      stream = await acquiring;
    } catch (err) {
      const error = err instanceof MediaAccessError ? err : null;
      setText(mediaErrorText, error?.message ?? 'The camera or microphone could not be started. Try again.');
      audioOnlyBtn.hidden = !(error?.canFallBackToAudio && kind === 'video');
      mediaError.hidden = false;
      app.dataset.state = 'media-error';
      setText(statusText, '');
      return;
    }
    if (session.status.state === 'ended') {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    mediaReady = true;
    session.useMedia(stream);
    render();
  }

  // ---------- rendering ----------
  function render(): void {
    const status = session.status;
    const state =
      status.state === 'ended'
        ? 'ended'
        : mediaReady
          ? status.state
          : app.dataset.state === 'media-error'
            ? 'media-error'
            : 'starting';
    setAttr(app, 'data-state', state);
    app.classList.toggle('is-minimized', minimized);

    // Status line over the stage.
    let line = '';
    if (state === 'starting') line = statusText.textContent ?? '';
    else if (state === 'waiting')
      line = options.calling ? `Calling ${options.calling}…` : 'Waiting for someone to join';
    else if (state === 'connecting') line = 'Connecting…';
    else if (state === 'reconnecting') line = 'Connection interrupted. Reconnecting…';
    setText(statusText, line);
    setHidden(
      statusPanel,
      state === 'connected' || state === 'ended' || state === 'media-error' || line === '',
    );
    // A call between contacts has no link anyone could join by (keys verify it, not a secret).
    const linkless = options.calling !== undefined || options.auth !== undefined;
    setHidden(share, state !== 'waiting' || linkless);
    // One visible "Copy link" at a time: the big one next to the link while waiting.
    setHidden(copyBtn, state === 'waiting' || linkless);

    // Local preview and controls.
    const micOn = session.micOn;
    label(muteBtn, micOn ? 'Mute microphone' : 'Unmute microphone', micOn ? 'Mute' : 'Unmute');
    setAttr(muteBtn, 'aria-pressed', micOn ? 'false' : 'true');
    const camOn = session.cameraOn;
    label(cameraBtn, camOn ? 'Turn camera off' : 'Turn camera on', camOn ? 'Camera off' : 'Camera on');
    setAttr(cameraBtn, 'aria-pressed', camOn ? 'false' : 'true');
    setAttr(local, 'data-video', camOn ? 'on' : 'off');
    // The preview gets the camera track only: our own microphone is never played back.
    const cameraTrack =
      camOn && media === 'video' ? (session.localStream?.getVideoTracks()[0] ?? null) : null;
    const shown = (localVideo.srcObject as MediaStream | null)?.getVideoTracks()[0] ?? null;
    if (cameraTrack !== shown && status.state !== 'ended') {
      localVideo.srcObject = cameraTrack ? new MediaStream([cameraTrack]) : null;
      if (cameraTrack) void localVideo.play().catch(() => {});
    }
    const inCall = state !== 'ended';
    const sharing = session.screen !== null;
    label(shareBtn, sharing ? 'Stop sharing' : 'Share screen', sharing ? 'Stop' : 'Share');
    setAttr(shareBtn, 'aria-pressed', sharing ? 'true' : 'false');
    shareBtn.disabled = !inCall;
    // While a share is on, Stop sharing is the one control for it.
    setHidden(shareTabBtn, !restrictTab || sharing);
    label(shareTabBtn, 'Share this tab', 'This tab');
    shareTabBtn.disabled = !inCall;
    const surface = session.screen?.video.getSettings().displaySurface;
    setText(
      sharingNote,
      sharing
        ? surface === 'browser'
          ? 'You are sharing a tab'
          : surface === 'window'
            ? 'You are sharing a window'
            : 'You are sharing your screen'
        : '',
    );
    setHidden(sharingNote, !sharing || !inCall);
    muteBtn.disabled = !mediaReady || !inCall;
    cameraBtn.disabled = cameraBusy || !mediaReady || !inCall;
    hangUpBtn.disabled = !inCall;
    recorder?.render();

    // Chat toggle and unread badge.
    setAttr(chatBtn, 'aria-pressed', chatOpen ? 'true' : 'false');
    setAttr(chatBtn, 'aria-expanded', chatOpen ? 'true' : 'false');
    setHidden(chatHost, !chatOpen);
    chat?.setVisible(chatOpen && !minimized);
    setHidden(badge, unread === 0);
    setText(badge, unread > 99 ? '99+' : String(unread));
    const unreadText = unread === 1 ? '1 unread message' : `${unread} unread messages`;
    setAttr(badge, 'aria-label', unreadText);
    label(chatBtn, unread === 0 ? 'Chat' : `Chat, ${unread} unread`, 'Chat');
    app.classList.toggle('chat-open', chatOpen);

    // People (N): everyone, you included.
    const remote = session.remotePeers;
    label(peopleBtn, `People (${remote.length + 1})`, `People (${remote.length + 1})`);
    // In the small overlay a call of two has no need of the list (and no room for the button).
    setHidden(peopleBtn, remote.length < 2 && (compactQuery?.matches ?? false) && !peopleOpen);
    setAttr(peopleBtn, 'aria-pressed', peopleOpen ? 'true' : 'false');
    setAttr(peopleBtn, 'aria-expanded', peopleOpen ? 'true' : 'false');
    setHidden(peopleHost, !peopleOpen);
    app.classList.toggle('people-open', peopleOpen);
    if (peopleOpen) {
      people.update(
        { name: options.localName, micOn: session.micOn, cameraOn: session.cameraOn },
        remote,
        tiles.activeSpeaker,
      );
    }

    setText(minimizeBtn, minimized ? 'Restore' : 'Minimize');

    // Quality.
    const q = session.quality;
    setAttr(quality, 'data-quality', q?.quality ?? 'unknown');
    setAttr(quality, 'aria-label', q ? describeQuality(q) : 'Connection quality unknown');
    setText(qualityText, q ? `${q.rttMs ?? '–'} ms` : '');
    setHidden(quality, state !== 'connected' && state !== 'reconnecting');
    updateTimer();

    // Notices (server unreachable, camera failed to reopen).
    setText(noticeBox, notice ?? '');
    setHidden(noticeBox, !notice || state === 'ended');

    // End screen.
    if (status.state === 'ended') {
      const reason = status.reason ?? 'error';
      setText(endTitle, END_TITLES[reason]);
      const message = status.message && status.message !== END_TITLES[reason] ? status.message : '';
      setText(endMessage, message);
      setHidden(endMessage, message === '');
      if (endScreen.hidden) {
        endScreen.hidden = false;
        // A recording finished by the hang-up is offered here.
        if (recorder) endScreen.insertBefore(recorder.files, closeBtn);
        closeBtn.focus({ preventScroll: true });
      }
      tiles.clear();
      localVideo.srcObject = null;
      soundBtn.hidden = true;
      if (!endedReported) {
        endedReported = true;
        hooks.onEnded?.();
      }
    }
  }

  // Peer updates come in bursts (every connection's stats sample, once a second, in one
  // task: src/call/stats.ts): the rest of the screen is drawn once for the burst.
  let renderQueued = false;
  let destroyed = false;
  function renderSoon(): void {
    if (renderQueued) return;
    renderQueued = true;
    queueMicrotask(() => {
      renderQueued = false;
      if (!destroyed) render();
    });
  }

  let firstConnectedReported = false;
  function updateTimer(): void {
    const since = session.connectedSince;
    const running = since !== null && session.status.state !== 'ended';
    setHidden(timer, since === null);
    if (since !== null && !firstConnectedReported) {
      firstConnectedReported = true;
      hooks.onFirstConnected?.(Math.round(performance.timeOrigin + since));
    }
    if (running) {
      const elapsed =
        options.connectedAt !== undefined ? Date.now() - options.connectedAt : performance.now() - since;
      const text = formatDuration(Math.max(0, elapsed));
      setText(timer, text);
      setAttr(timer, 'aria-label', `Call time ${text}`);
    }
  }
  const timerInterval = setInterval(updateTimer, 1000);

  cleanups.push(
    session.on('status', () => render()),
    session.on('peer', (peer) => {
      tiles.update(peer);
      renderSoon();
    }),
    session.on('peerRemoved', (peerId) => {
      tiles.remove(peerId);
      render();
    }),
    session.on('local', () => render()),
    session.on('notice', (message) => {
      notice = message;
      render();
    }),
  );

  const onKey = (ev: KeyboardEvent) => {
    if (ev.key === 'Escape' && chatOpen) {
      chatOpen = false;
      render();
      chatBtn.focus();
    } else if (ev.key === 'Escape' && peopleOpen) {
      peopleOpen = false;
      render();
      peopleBtn.focus();
    }
  };
  app.addEventListener('keydown', onKey);

  // ---------- start ----------
  const capability = checkCapabilities();
  if (!capability.ok) {
    setText(mediaErrorText, capability.message);
    audioOnlyBtn.hidden = true;
    retryBtn.hidden = true;
    mediaError.hidden = false;
    app.dataset.state = 'media-error';
    controls.hidden = true;
  } else {
    render();
    void startWithMedia(media);
  }

  return {
    session,
    destroy() {
      destroyed = true;
      clearInterval(timerInterval);
      clearTimeout(copiedTimer);
      app.removeEventListener('keydown', onKey);
      for (const off of cleanups.splice(0)) off();
      session.dispose();
      chat?.destroy();
      files?.destroy();
      recorder?.destroy();
      app.remove();
    },
  };
}
