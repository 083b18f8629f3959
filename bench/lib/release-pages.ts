/**
 * The page and worker of `bench:transfer-release` (bench/transfer-release.ts), served as they
 * are. The page sends MIB mebibytes to itself over a data channel (two RTCPeerConnections,
 * 256 KiB frames with a 13-byte header as Parley's, at most 16 MiB unacknowledged) and
 * transfers each received frame's buffer to the worker, which does the OPFS writer's work
 * (a synchronous access handle write, the block hash's copy into a 4 MiB block and
 * `crypto.subtle.digest`) and then, by `mode`, what happens to the buffer:
 *   - none: left as garbage (Parley until 2026-12-04 16:40);
 *   - detach: `buffer.transfer(0)`;
 *   - closed-port: posted, transferred, on a MessagePort closed on this side;
 *   - peer-closed-port: posted, transferred, on a port whose other end is closed;
 *   - terminated-worker: posted, transferred, to a worker terminated at once (Parley since);
 *   - pool: the page copies each frame into one of a few buffers the worker sends back;
 *   - nudge: left as garbage, with NUDGE small objects allocated after each frame (scavenges).
 */

export const RELEASE_MODES = [
  'none',
  'detach',
  'closed-port',
  'peer-closed-port',
  'terminated-worker',
  'pool',
  'nudge',
] as const;
export type ReleaseMode = (typeof RELEASE_MODES)[number];

export const RELEASE_WORKER = `
const params = new URL(location.href).searchParams;
const mode = params.get('mode');
const nudge = Number(params.get('nudge') ?? 0);
const BLOCK = 4 * 1024 * 1024;
const block = new Uint8Array(BLOCK);
let filled = 0;
let digests = [];
let handle = null;
let written = 0;
const peerClosed = new MessageChannel();
peerClosed.port2.close();
const ownClosed = new MessageChannel();
ownClosed.port1.close();
const terminated = new Worker(location.href);
terminated.terminate();
let junk = null;
let queue = Promise.resolve();
function hash(bytes) {
  let at = 0;
  while (at < bytes.byteLength) {
    const take = Math.min(BLOCK - filled, bytes.byteLength - at);
    block.set(bytes.subarray(at, at + take), filled);
    filled += take;
    at += take;
    if (filled === BLOCK) {
      digests.push(crypto.subtle.digest('SHA-256', block));
      filled = 0;
    }
  }
}
async function handleMessage(m) {
  if (m.op === 'open') {
    const root = await navigator.storage.getDirectory();
    const file = await root.getFileHandle('release-bench', { create: true });
    handle?.close();
    handle = await file.createSyncAccessHandle();
    handle.truncate(0);
    written = 0;
    filled = 0;
    digests = [];
    postMessage({ op: 'ready' });
    return;
  }
  if (m.op === 'write') {
    const bytes = new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
    let done = 0;
    while (done < bytes.byteLength) done += handle.write(bytes.subarray(done), { at: written + done });
    written += bytes.byteLength;
    hash(bytes);
    for (let i = 0; i < nudge; i++) junk = { i, pair: [i, i] };
    if (mode === 'detach') m.buffer.transfer(0);
    else if (mode === 'closed-port') ownClosed.port1.postMessage(null, [m.buffer]);
    else if (mode === 'peer-closed-port') peerClosed.port1.postMessage(null, [m.buffer]);
    else if (mode === 'terminated-worker') terminated.postMessage(null, [m.buffer]);
    const detached = m.buffer.byteLength === 0;
    if (mode === 'pool') postMessage({ op: 'written', total: written, buffer: m.buffer }, [m.buffer]);
    else postMessage({ op: 'written', total: written, detached });
    return;
  }
  if (m.op === 'finish') {
    await Promise.all(digests);
    handle.flush();
    postMessage({ op: 'finished' });
  }
}
onmessage = (event) => {
  const m = event.data;
  queue = queue.then(() => handleMessage(m));
};
`;

export const RELEASE_PAGE = `<!doctype html><meta charset="utf-8"><title>release bench</title>
<script>
const MiB = 1024 * 1024;
const FRAME = 256 * 1024;
const HEADER = 13;
window.setup = async (mode, nudge) => {
  const worker = new Worker('/worker.js?mode=' + mode + '&nudge=' + nudge, { name: 'release-writer' });
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const send = a.createDataChannel('files');
  const received = new Promise((resolve) => (b.ondatachannel = (e) => resolve(e.channel)));
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  const receive = await received;
  receive.binaryType = 'arraybuffer';
  if (send.readyState !== 'open') await new Promise((resolve) => (send.onopen = resolve));
  window.parts = { send, receive, worker, mode, keep: [a, b] };
};
window.run = async (mib) => {
  const { send, receive, worker, mode } = window.parts;
  const total = mib * MiB;
  await new Promise((resolve) => {
    worker.onmessage = (e) => e.data.op === 'ready' && resolve();
    worker.postMessage({ op: 'open' });
  });
  const frame = new Uint8Array(FRAME);
  crypto.getRandomValues(frame.subarray(0, 65536));
  let sent = 0;
  let written = 0;
  let detached = true;
  const pool = [];
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const pump = () => {
    while (sent < total && sent - written < 16 * MiB && send.bufferedAmount < 8 * MiB) {
      const body = Math.min(FRAME - HEADER, total - sent);
      send.send(frame.subarray(0, HEADER + body));
      sent += body;
    }
  };
  send.bufferedAmountLowThreshold = 2 * MiB;
  send.onbufferedamountlow = pump;
  worker.onmessage = (e) => {
    const m = e.data;
    if (m.op === 'written') {
      written = m.total;
      if (m.detached === false) detached = false;
      if (m.buffer) pool.push(m.buffer);
      pump();
      if (written >= total) worker.postMessage({ op: 'finish' });
    } else if (m.op === 'finished') finish();
  };
  receive.onmessage = (e) => {
    let buffer = e.data;
    const byteLength = buffer.byteLength - HEADER;
    if (mode === 'pool') {
      const own = pool.pop() ?? new ArrayBuffer(FRAME);
      new Uint8Array(own).set(new Uint8Array(buffer));
      buffer = own;
    }
    worker.postMessage({ op: 'write', buffer, byteOffset: HEADER, byteLength }, [buffer]);
  };
  const start = performance.now();
  pump();
  await finished;
  return { ms: performance.now() - start, detached };
};
</script>`;
