/**
 * The baseline of `bench:share`: what the browser itself needs to share a screen in a call.
 * A plain page pair over the bare relay of bench/lib/bare-call.ts, already in a call
 * (getUserMedia + RTCPeerConnection); `__share()` is getDisplayMedia (with the same options
 * as Parley's Share screen) + addTrack + one renegotiation, `__stop()` removes it again. The
 * receiving page marks the first presented frame of the share (requestVideoFrameCallback).
 * No perfect negotiation, no validation, no signing: only the sharer ever renegotiates.
 */
import { AUDIO_CONSTRAINTS, VIDEO_CONSTRAINTS } from '../../src/call/media.ts';
import { displayMediaOptions } from '../../src/call/screen-share.ts';

const CONSTRAINTS = JSON.stringify({ video: VIDEO_CONSTRAINTS, audio: AUDIO_CONSTRAINTS });
const DISPLAY = JSON.stringify(displayMediaOptions('screen'));

export const BARE_SHARE_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bare share</title></head>
<body><video id="local" autoplay muted playsinline></video><video id="remote" autoplay playsinline></video>
<video id="screen" autoplay muted playsinline></video>
<script type="module">
const marks = (window.__marks = {});
const room = new URLSearchParams(location.search).get('room');
const remote = document.getElementById('remote');
const screen = document.getElementById('screen');
const stream = await navigator.mediaDevices.getUserMedia(${CONSTRAINTS});
document.getElementById('local').srcObject = stream;
const pc = new RTCPeerConnection();
for (const t of stream.getTracks()) pc.addTrack(t, stream);
const ws = new WebSocket('ws://' + location.host + '/ws?room=' + room);
const send = (m) => ws.send(JSON.stringify(m));
let ready = false;
pc.onicecandidate = (e) => e.candidate && send({ candidate: e.candidate.toJSON() });
pc.onnegotiationneeded = async () => {
  if (!ready) return;
  await pc.setLocalDescription();
  send({ description: pc.localDescription.toJSON() });
};
pc.ontrack = (e) => {
  const s = e.streams[0];
  if (!remote.srcObject) { remote.srcObject = s; return; }
  if (s === remote.srcObject || e.track.kind !== 'video') return;
  screen.srcObject = s;
  s.onremovetrack = () => { screen.srcObject = null; marks.screenGone = Date.now(); };
  const onFrame = () => {
    if (screen.videoWidth > 0) marks.screenFrame = Date.now();
    else screen.requestVideoFrameCallback(onFrame);
  };
  screen.requestVideoFrameCallback(onFrame);
};
pc.onconnectionstatechange = () => { if (pc.connectionState === 'connected') marks.connected = Date.now(); };
ws.onopen = () => send({ hello: true });
ws.onmessage = async (ev) => {
  const m = JSON.parse(ev.data);
  if (m.hello) {
    await pc.setLocalDescription();
    send({ description: pc.localDescription.toJSON() });
  } else if (m.description) {
    await pc.setRemoteDescription(m.description);
    if (m.description.type === 'offer') {
      await pc.setLocalDescription();
      send({ description: pc.localDescription.toJSON() });
    }
    ready = true;
  } else if (m.candidate) {
    await pc.addIceCandidate(m.candidate);
  }
};
let senders = [];
let capture = null;
window.__share = async () => {
  const t0 = Date.now();
  capture = await navigator.mediaDevices.getDisplayMedia(${DISPLAY});
  senders = capture.getTracks().map((t) => pc.addTrack(t, capture));
  return t0;
};
window.__stop = () => {
  for (const s of senders) pc.removeTrack(s);
  for (const t of capture?.getTracks() ?? []) t.stop();
  senders = [];
  capture = null;
};
</script></body></html>`;
