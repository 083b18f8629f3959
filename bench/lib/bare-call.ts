/**
 * The baseline for `bench:call`: what the browser itself needs for a call. A bare `ws` relay
 * (JSON parse, forward to the other member of the room) and a plain page doing getUserMedia +
 * RTCPeerConnection with trickled ICE: no extension, no overlay, no validation, no checks.
 */
import { createServer, type Server } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { AUDIO_CONSTRAINTS, VIDEO_CONSTRAINTS } from '../../src/call/media.ts';

/**
 * The same getUserMedia constraints as a Parley call (720p, echo cancellation...): the
 * browser's own cost of capturing and encoding that video is part of the baseline, not of
 * Parley's overhead.
 */
const CONSTRAINTS = JSON.stringify({ video: VIDEO_CONSTRAINTS, audio: AUDIO_CONSTRAINTS });

const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bare call</title></head>
<body><video id="local" autoplay muted playsinline></video><video id="remote" autoplay playsinline></video>
<script type="module">
const marks = (window.__marks = {});
const room = new URLSearchParams(location.search).get('room');
const remote = document.getElementById('remote');
const stream = await navigator.mediaDevices.getUserMedia(${CONSTRAINTS});
document.getElementById('local').srcObject = stream;
const pc = new RTCPeerConnection();
for (const t of stream.getTracks()) pc.addTrack(t, stream);
const ws = new WebSocket('ws://' + location.host + '/ws?room=' + room);
const send = (m) => ws.send(JSON.stringify(m));
pc.onicecandidate = (e) => e.candidate && send({ candidate: e.candidate.toJSON() });
pc.oniceconnectionstatechange = () => {
  if (pc.iceConnectionState === 'connected' && !marks.connected) marks.connected = Date.now();
};
pc.ontrack = (e) => {
  if (remote.srcObject) return;
  remote.srcObject = e.streams[0];
  const onFrame = () => {
    if (remote.videoWidth > 0) marks.playing = Date.now();
    else remote.requestVideoFrameCallback(onFrame);
  };
  remote.requestVideoFrameCallback(onFrame);
};
ws.onopen = () => { marks.joined = Date.now(); send({ hello: true }); };
ws.onmessage = async (ev) => {
  const m = JSON.parse(ev.data);
  if (m.hello) {
    // The member already present makes the offer when the other arrives.
    await pc.setLocalDescription();
    send({ description: pc.localDescription.toJSON() });
  } else if (m.description) {
    await pc.setRemoteDescription(m.description);
    if (m.description.type === 'offer') {
      await pc.setLocalDescription();
      send({ description: pc.localDescription.toJSON() });
    }
  } else if (m.candidate) {
    await pc.addIceCandidate(m.candidate);
  }
};
</script></body></html>`;

export interface BareCallServer {
  url: string;
  close(): Promise<void>;
}

/** The relay and a page (the bare call's unless another is given, e.g. bench/lib/bare-share.ts). */
export async function startBareCallServer(page: string = PAGE): Promise<BareCallServer> {
  const http: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
  });
  const wss = new WebSocketServer({ server: http, path: '/ws' });
  const rooms = new Map<string, Set<WebSocket>>();
  wss.on('connection', (socket, req) => {
    const room = new URL(req.url ?? '/', 'http://x').searchParams.get('room') ?? '';
    const members = rooms.get(room) ?? new Set<WebSocket>();
    rooms.set(room, members);
    members.add(socket);
    socket.on('message', (data) => {
      try {
        JSON.parse(String(data));
      } catch {
        return;
      }
      for (const other of members) if (other !== socket) other.send(String(data));
    });
    socket.on('close', () => members.delete(socket));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        http.close(() => resolve());
      }),
  };
}
