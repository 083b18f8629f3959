/**
 * Scripts bench:mesh runs in the guest pages (see bench/mesh.ts): instrumentation, the
 * newcomer's timeline, waiting for every remote video's first frame, and the stats read.
 */
/**
 * In every page: the fake camera at width×height and at most `fps` frames per second; every
 * RTCPeerConnection kept (for getStats); the moment "Join call" is clicked; and, when the page
 * has `window.__noFpsCap` set (sizes written "6u"), the frame-rate cap of the uplink budget
 * taken out of every setParameters call, for comparison. Strings, not functions: tsx would
 * wrap named inner functions with a helper the page does not have.
 */
export const instrument = (width: number, height: number, fps: number) => `(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const gum = md.getUserMedia.bind(md);
  md.getUserMedia = (c) => {
    const x = { ...(c || {}) };
    if (x.video) x.video = { ...(typeof x.video === 'object' ? x.video : {}), width: { exact: ${width} }, height: { exact: ${height} }, frameRate: { ideal: ${fps}, max: ${fps} } };
    return gum(x);
  };
  const setParameters = RTCRtpSender.prototype.setParameters;
  RTCRtpSender.prototype.setParameters = function (p, ...rest) {
    if (window.__noFpsCap && p && p.encodings) for (const e of p.encodings) delete e.maxFramerate;
    return setParameters.call(this, p, ...rest);
  };
  const pcs = (window.__pcs = []);
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...a) { super(...a); pcs.push(this); }
  };
  document.addEventListener('click', (e) => {
    const b = e.target instanceof Element ? e.target.closest('button') : null;
    if (b && b.textContent.trim() === 'Join call' && !window.__joinAt) window.__joinAt = Date.now();
  }, true);
})();`;

/**
 * TIMELINE=1: marks in every page ([Date.now(), label]): signaling messages by type and from
 * whom, connections made, descriptions applied, ICE states, and per connection the first inbound video packet, decoded keyframes and keyframe requests (getStats every 20 ms for 15 s); printed for the newcomer of the
 * last call of each size.
 */
export const TIMELINE_MARKS = `(() => {
  const L = (window.__timeline = []);
  const mark = (m) => L.push([Date.now(), m]);
  const kind = (s) => {
    const t = /"type":"([a-z-]+)"/.exec(s);
    const k = /"kind":"([a-z-]+)"/.exec(s);
    const d = /"type":"(offer|answer)","sdp"/.exec(s);
    const f = /"(?:from|peerId)":"([^"]{0,6})/.exec(s);
    return (t ? t[1] : '?') + (k ? ' ' + k[1] : '') + (d ? ' ' + d[1] : '') + (f ? ' ' + f[1] : '');
  };
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...a) { super(...a); this.addEventListener('message', (e) => mark('ws ← ' + kind(String(e.data)))); }
    send(d) { mark('ws → ' + kind(String(d))); return super.send(d); }
  };
  const NativePC = window.RTCPeerConnection;
  let count = 0;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...a) {
      super(...a);
      const id = 'pc' + ++count;
      mark(id + ' created');
      this.addEventListener('iceconnectionstatechange', () => mark(id + ' ICE ' + this.iceConnectionState));
      this.addEventListener('track', (e) => e.track.kind === 'video' && mark(id + ' video track'));
      const srd = this.setRemoteDescription.bind(this);
      this.setRemoteDescription = async (d) => { mark(id + ' setRemote(' + (d && d.type) + ')'); const r = await srd(d); mark(id + ' remote ' + (d && d.type) + ' set'); return r; };
      const sld = this.setLocalDescription.bind(this);
      this.setLocalDescription = async (...x) => { const r = await sld(...x); mark(id + ' local ' + this.localDescription.type + ' set'); return r; };
      // The inbound video's first packet, first decoded frame and keyframe requests (PLI/FIR).
      const seen = {};
      const started = Date.now();
      const poll = setInterval(async () => {
        if (Date.now() - started > 15000 || this.connectionState === 'closed') return clearInterval(poll);
        (await this.getStats()).forEach((r) => {
          if (r.type !== 'inbound-rtp' || r.kind !== 'video') return;
          const note = (key, value, label) => { if (value > (seen[key] || 0)) { seen[key] = value; mark(id + ' ' + label + ' ' + value); } };
          if (!seen.packets && r.packetsReceived > 0) { seen.packets = 1; mark(id + ' first video packet'); }
          note('keys', r.keyFramesDecoded || 0, 'keyframes decoded');
          note('pli', r.pliCount || 0, 'PLI sent');
          note('fir', r.firCount || 0, 'FIR sent');
          if (!seen.decoded && r.framesDecoded > 0) { seen.decoded = 1; mark(id + ' first frame decoded'); }
        });
      }, 20);
    }
  };
})();`;

/**
 * Resolves with the Date.now() of the first presented frame (with dimensions) of the last of
 * `n` remote camera videos, once there are exactly `n` and each presented one.
 */
export const ALL_VIDEOS = `(n) => new Promise((resolve) => {
  const check = () => {
    const videos = [...document.querySelectorAll('.parley-tile[data-source="camera"] video.parley-remote-video')];
    for (const v of videos) {
      if (v.__watched) continue;
      v.__watched = true;
      const onFrame = () => {
        if (v.videoWidth > 0) v.__first = Date.now();
        else v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
    }
    if (videos.length === n && videos.every((v) => v.__first)) return resolve(Math.max(...videos.map((v) => v.__first)));
    setTimeout(check, 10);
  };
  check();
})`;

/** Per page: bytes sent (all outbound RTP), video frames encoded, the video caps in force, frames decoded per inbound video. */
export const STATS = `async () => {
  let sent = 0; let encoded = 0; let capBps = 0; let capped = 0; let fpsCap = 0; let copies = 0; const decoded = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== 'connected') continue;
    copies++;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'outbound-rtp') sent += s.bytesSent || 0;
      if (s.type === 'outbound-rtp' && s.kind === 'video') encoded += s.framesEncoded || 0;
      if (s.type === 'inbound-rtp' && s.kind === 'video') decoded.push(s.framesDecoded || 0);
    });
    for (const sender of pc.getSenders()) {
      if (sender.track?.kind !== 'video') continue;
      const e = sender.getParameters().encodings?.[0];
      if (e?.maxBitrate) { capBps += e.maxBitrate; capped++; }
      if (e?.maxFramerate) fpsCap = Math.max(fpsCap, e.maxFramerate);
    }
  }
  return { at: performance.now(), sent, encoded, capBps, capped, fpsCap, copies, decoded };
}`;

export interface Stats {
  at: number;
  sent: number;
  /** Video frames encoded, all copies. */
  encoded: number;
  capBps: number;
  capped: number;
  /** The frame-rate cap on the video senders (0: none). */
  fpsCap: number;
  copies: number;
  decoded: number[];
}
