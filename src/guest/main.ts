/**
 * The guest page: the call UI as a plain web page, served by the signaling server at
 * `/r/<room>` so a share link works for anyone with a WebRTC browser, extension or not.
 *
 * The secret stays in `location.hash` (it never reaches the server). We do not strip it with
 * history.replaceState: the person already holds the link, and "Copy link" and a reload
 * both need it. An audio-only call's link carries `?media=audio` so the guest never asks
 * for a camera.
 *
 * A reload (or a crashed tab reloaded) comes back to the same call without the name card:
 * see ./rejoin.ts and keepPlace below. The page never hangs up when it goes: it cannot tell a
 * reload from the tab closing, and the others tell the two apart by whether it comes back.
 */
import '../overlay/app.css';
import './guest.css';
import { checkCapabilities } from '../call/capabilities.ts';
import { acquireLocalMedia } from '../call/media.ts';
import type { CallSession } from '../call/session.ts';
import { warmUpWebRtc } from '../call/warm-up.ts';
import { WebSocketSignaling } from '../call/websocket-signaling.ts';
import { button, el } from '../overlay/ui/dom.ts';
import { parseContactLink } from '../protocol/contact-link.ts';
import { formatShareLink, parseShareLink, type ShareLink } from '../protocol/link.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';
import { showContactLinkPage } from './contact-link-page.ts';
import {
  clearRejoinEntry,
  holdPlace,
  REJOIN_REFRESH_MS,
  type RejoinEntry,
  readRejoinEntry,
  saveRejoinEntry,
} from './rejoin.ts';

// The call screen (and what it pulls in: chat, files, stats) is most of the code. Fetch it
// now, but start the devices and the socket first, without waiting for it to be evaluated.
const callApp = import('../overlay/app.ts');
callApp.catch(() => {});

const NAME_KEY = 'parley.guestName';
/**
 * How long the join card may stay up after "Join call" while the connection is negotiated
 * (see mountCall): past this the call screen shows, saying "Connecting…".
 */
const REVEAL_DEADLINE_MS = 700;
const root = document.getElementById('parley-guest') ?? document.body;

function sentence(text: string): void {
  root.replaceChildren(el('p', { class: 'guest-sentence', role: 'alert' }, text));
}

function rememberedName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? '';
  } catch {
    return '';
  }
}

function rememberName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Storage may be blocked; the name is only a convenience.
  }
}

function callMedia(): 'video' | 'audio' {
  return new URLSearchParams(location.search).get('media') === 'audio' ? 'audio' : 'video';
}

/**
 * The pre-join step. Like Meet's "Ready to join?", the camera (or microphone) starts while the
 * person reads the card, so they see themselves before joining and the join itself does not
 * wait for the devices. If that fails, the call UI asks again and explains the error.
 */
function showJoinForm(link: ShareLink, media: 'video' | 'audio'): void {
  // While the card is read, open the socket (joining nothing yet): pressing Join then costs
  // one message, not a TCP and WebSocket handshake.
  const signaling = new WebSocketSignaling({ server: link.server });
  signaling.preconnect();
  const preview = el('video', {
    class: 'guest-preview',
    muted: '',
    playsinline: '',
    autoplay: '',
    'aria-label': 'Your camera preview',
  });
  preview.muted = true;
  preview.hidden = true;
  let previewStream: MediaStream | null = null;
  let submitted = false;
  const ready: Promise<MediaStream | undefined> = acquireLocalMedia(media).then(
    (stream) => {
      previewStream = stream;
      if (!submitted && media === 'video') {
        preview.srcObject = new MediaStream(stream.getVideoTracks());
        preview.hidden = !cameraInput.checked;
      }
      return stream;
    },
    () => undefined,
  );

  const nameInput = el('input', {
    type: 'text',
    id: 'guest-name',
    name: 'name',
    autocomplete: 'nickname',
    maxlength: '64',
  });
  nameInput.value = rememberedName() || 'Guest';
  const cameraInput = el('input', { type: 'checkbox', id: 'guest-camera', name: 'camera' });
  cameraInput.checked = true;
  cameraInput.addEventListener('change', () => {
    preview.hidden = !cameraInput.checked || !previewStream;
  });
  const joinBtn = el('button', { type: 'submit', class: 'parley-btn parley-btn-primary' }, 'Join call');
  const form = el(
    'form',
    { class: 'guest-card', 'aria-labelledby': 'guest-title' },
    el('h1', { id: 'guest-title' }, media === 'video' ? 'Join the video call' : 'Join the audio call'),
    el('p', {}, 'The call goes straight between you and the other person; nothing is recorded.'),
    media === 'video' ? preview : null,
    el('div', { class: 'guest-field' }, el('label', { for: 'guest-name' }, 'Your name'), nameInput),
    media === 'video'
      ? el(
          'div',
          { class: 'guest-check' },
          cameraInput,
          el('label', { for: 'guest-camera' }, 'Join with camera'),
        )
      : null,
    joinBtn,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (submitted) return;
    submitted = true;
    joinBtn.textContent = 'Joining…';
    joinBtn.setAttribute('aria-disabled', 'true');
    const name = cleanDisplayName(nameInput.value);
    rememberName(name);
    const camera = media === 'video' ? cameraInput.checked : false;
    if (!camera) preview.srcObject = null;
    // The call starts now, while the devices may still be starting.
    const local = ready.then((stream) => {
      if (!stream || camera) return stream;
      // Joining without the camera: turn it off now (light off), keep the microphone.
      for (const t of stream.getVideoTracks()) t.stop();
      return new MediaStream(stream.getAudioTracks());
    });
    startCall(link, media, name, camera, { signaling, localStream: local });
  });
  root.replaceChildren(form);
  nameInput.focus();
  nameInput.select();
  setTimeout(warmUpWebRtc, 0);
}

/**
 * This tab was in the call a moment ago (a reload): join again under the same peer id, with
 * the same name and camera choice, without the card. The others see us reconnecting.
 */
function rejoinCall(link: ShareLink, media: 'video' | 'audio', entry: RejoinEntry): void {
  const signaling = new WebSocketSignaling({
    server: link.server,
    resume: { peerId: entry.peerId, token: entry.token },
    rejoin: true,
  });
  signaling.preconnect();
  const camera = media === 'video' && entry.camera;
  // Without the camera, it is not even opened (its light stays off).
  const localStream = acquireLocalMedia(camera ? 'video' : 'audio').catch(() => undefined);
  setTimeout(warmUpWebRtc, 0);
  startCall(link, media, entry.name, camera, { signaling, localStream });
}

/**
 * While in the call, keep what a reload of this tab needs to come back (./rejoin.ts): written
 * on every `joined`, camera change and every REJOIN_REFRESH_MS, and when the page goes. The
 * page going (`pagehide`) leaves without a bye and without leaving the room, so the server
 * keeps our place for its resume grace; this listener is added before the call's own (which
 * would hang up). Hang up, or the call ending any other way, forgets the place: a reload then
 * shows the card.
 */
function keepPlace(
  signaling: WebSocketSignaling,
  room: string,
  name: string,
): { attach(session: CallSession): void } {
  let session: CallSession | null = null;
  let over = false;
  const save = (): void => {
    const ticket = signaling.resumeTicket;
    if (over || !session || !ticket) return;
    saveRejoinEntry({
      room,
      peerId: ticket.peerId,
      token: ticket.token,
      name,
      camera: session.cameraOn,
      at: Date.now(),
    });
  };
  const refresh = setInterval(save, REJOIN_REFRESH_MS);
  const onPageHide = (): void => {
    if (over || !session) return;
    save();
    over = true;
    clearInterval(refresh);
    session.detach();
    // Back from the back-forward cache, this page has left the call: load it again to rejoin.
    addEventListener('pageshow', (ev: PageTransitionEvent) => {
      if (ev.persisted) location.reload();
    });
  };
  addEventListener('pagehide', onPageHide);
  return {
    attach(s) {
      session = s;
      s.on('status', (status) => {
        if (status.state !== 'ended' || over) return;
        over = true;
        clearInterval(refresh);
        removeEventListener('pagehide', onPageHide);
        clearRejoinEntry();
      });
      s.on('local', save);
      signaling.on('joined', (info) => {
        void holdPlace(info.peerId);
        save();
      });
    },
  };
}

function startCall(
  link: ShareLink,
  media: 'video' | 'audio',
  name: string,
  camera: boolean,
  ready: { signaling: WebSocketSignaling; localStream: Promise<MediaStream | undefined> },
): void {
  void callApp.then(
    ({ mountCallApp }) => mountCall(mountCallApp, link, media, name, camera, ready),
    () => sentence('Parley could not load. Check your connection and reload the page.'),
  );
}

function mountCall(
  mountCallApp: typeof import('../overlay/app.ts').mountCallApp,
  link: ShareLink,
  media: 'video' | 'audio',
  name: string,
  camera: boolean,
  ready: { signaling: WebSocketSignaling; localStream: Promise<MediaStream | undefined> },
): void {
  const { signaling, localStream } = ready;
  // The call screen is built at once but shown only when the connection is up (or nobody is
  // there yet, or something went wrong, or REVEAL_DEADLINE_MS passed); until then the join
  // card stays, its button saying "Joining…". Laying the screen out takes 5-20 ms of the
  // page's main thread, which is also where the offer is applied and the answer made: done
  // during the negotiation it delayed the connection by as much (bench:call, PROFILE=1).
  // Shown at ICE connected, it is laid out while the first video frame is still on its way.
  const stage = el('div', { class: 'guest-stage' });
  stage.hidden = true;
  root.append(stage);
  const place = keepPlace(signaling, link.room, name);
  const url = `${link.server}/r/${link.room}${media === 'audio' ? '?media=audio' : ''}#${link.secret}`;
  const app = mountCallApp(stage, {
    signaling,
    link,
    url: media === 'audio' ? url : formatShareLink(link),
    media,
    localName: name,
    host: 'guest',
    camera,
    localStream,
    hooks: {
      onClose() {
        app.destroy();
        root.replaceChildren(
          el('p', { class: 'guest-sentence', role: 'status' }, 'You left the call. You can close this tab.'),
          el(
            'p',
            { class: 'guest-sentence' },
            button('Join again', 'parley-btn', () => showJoinForm(link, media)),
          ),
        );
      },
    },
  });
  place.attach(app.session);
  let shown = false;
  const show = (): void => {
    if (shown || stage.parentNode !== root) return;
    shown = true;
    clearTimeout(deadline);
    for (const off of offs) off();
    for (const child of [...root.children]) if (child !== stage) child.remove();
    stage.hidden = false;
  };
  const deadline = setTimeout(show, REVEAL_DEADLINE_MS);
  // No camera or microphone (blocked, missing): the call screen says why and what to do.
  void localStream.then((stream) => {
    if (!stream) show();
  });
  const offs = [
    app.session.on('status', (status) => {
      if (status.state === 'connected' || status.state === 'ended') show();
    }),
    // Nobody else in the room yet: "Waiting for someone to join" is the news.
    signaling.on('joined', (info) => {
      if (info.peers.length === 0) show();
    }),
    signaling.on('status', (status) => {
      if (status === 'reconnecting') show();
    }),
  ];
  // Handy for tests and debugging in the console; holds no secret beyond what the URL has.
  (window as { parleyCall?: unknown }).parleyCall = app.session;
}

function main(): void {
  const contactLink = parseContactLink(location.href);
  if (contactLink) {
    void showContactLinkPage(root, contactLink);
    return;
  }
  if (/\/c\/?$/.test(location.pathname)) {
    sentence('This contact link is incomplete (the part after # is missing or damaged). Ask for it again.');
    return;
  }
  const link = parseShareLink(location.href);
  if (!link) {
    sentence(
      'This call link is incomplete (the part after # is missing or damaged). Ask the person who invited you to send it again.',
    );
    return;
  }
  const capability = checkCapabilities();
  if (!capability.ok) {
    sentence(capability.message);
    return;
  }
  const media = callMedia();
  const entry = readRejoinEntry(link.room);
  if (!entry) {
    showJoinForm(link, media);
    return;
  }
  root.replaceChildren(el('p', { class: 'guest-sentence', role: 'status' }, 'Rejoining the call…'));
  // A duplicated tab has a copy of this tab's entry while the original still holds the place.
  void holdPlace(entry.peerId).then((ours) => {
    if (ours) {
      rejoinCall(link, media, entry);
      return;
    }
    clearRejoinEntry();
    showJoinForm(link, media);
  });
}

main();
