/**
 * The guest page: the call UI as a plain web page, served by the signaling server at
 * `/r/<room>` so a share link works for anyone with a WebRTC browser, extension or not.
 *
 * The secret stays in `location.hash` (it never reaches the server). We do not strip it with
 * history.replaceState: the person already holds the link, and "Copy link" and a reload
 * both need it. An audio-only call's link carries `?media=audio` so the guest never asks
 * for a camera.
 */
import '../overlay/app.css';
import './guest.css';
import { checkCapabilities } from '../call/capabilities.ts';
import { WebSocketSignaling } from '../call/websocket-signaling.ts';
import { mountCallApp } from '../overlay/app.ts';
import { button, el } from '../overlay/ui/dom.ts';
import { formatShareLink, parseShareLink, type ShareLink } from '../protocol/link.ts';
import { cleanDisplayName } from '../protocol/peer-call.ts';

const NAME_KEY = 'parley.guestName';
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

function showJoinForm(link: ShareLink, media: 'video' | 'audio'): void {
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
  const joinBtn = el('button', { type: 'submit', class: 'parley-btn parley-btn-primary' }, 'Join call');
  const form = el(
    'form',
    { class: 'guest-card', 'aria-labelledby': 'guest-title' },
    el('h1', { id: 'guest-title' }, media === 'video' ? 'Join the video call' : 'Join the audio call'),
    el('p', {}, 'The call goes straight between you and the other person; nothing is recorded.'),
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
    const name = cleanDisplayName(nameInput.value);
    rememberName(name);
    startCall(link, media, name, media === 'video' ? cameraInput.checked : false);
  });
  root.replaceChildren(form);
  nameInput.focus();
  nameInput.select();
}

function startCall(link: ShareLink, media: 'video' | 'audio', name: string, camera: boolean): void {
  root.replaceChildren();
  const signaling = new WebSocketSignaling({ server: link.server });
  const url = `${link.server}/r/${link.room}${media === 'audio' ? '?media=audio' : ''}#${link.secret}`;
  const app = mountCallApp(root, {
    signaling,
    link,
    url: media === 'audio' ? url : formatShareLink(link),
    media,
    localName: name,
    host: 'guest',
    camera,
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
  // Handy for tests and debugging in the console; holds no secret beyond what the URL has.
  (window as { parleyCall?: unknown }).parleyCall = app.session;
}

function main(): void {
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
  showJoinForm(link, callMedia());
}

main();
