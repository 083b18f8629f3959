/**
 * Fakes of WebRTC and of the signaling client for the call engine's unit tests: enough of
 * RTCPeerConnection and RTCDataChannel to drive negotiation, channels and connection states
 * by hand. Real WebRTC is exercised in test/e2e.
 */
import type { JoinedInfo, Signaling, SignalingEvents } from '../../src/call/signaling.ts';

export const FP =
  'a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
export const sdpWith = (fp: string) => `v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n${fp}\r\na=mid:0\r\n`;

export class FakeSignaling implements Signaling {
  handlers: { [K in keyof SignalingEvents]?: Array<SignalingEvents[K]> } = {};
  sent: Array<{ to: string; data: unknown }> = [];
  left = false;
  constructor(private readonly info: JoinedInfo) {}
  async join(): Promise<JoinedInfo> {
    queueMicrotask(() => this.fire('joined', this.info));
    return this.info;
  }
  send(to: string, data: unknown): void {
    this.sent.push({ to, data });
  }
  /** What the session parked with the "server", in order (null: taken back). */
  parkedLog: unknown[] = [];
  park(data: unknown): void {
    this.parkedLog.push(data);
  }
  on<K extends keyof SignalingEvents>(event: K, handler: SignalingEvents[K]): () => void {
    if (!this.handlers[event]) this.handlers[event] = [];
    const list = this.handlers[event] as Array<SignalingEvents[K]>;
    list.push(handler);
    return () => list.splice(list.indexOf(handler), 1);
  }
  leave(): void {
    this.left = true;
  }
  fire<K extends keyof SignalingEvents>(event: K, ...args: Parameters<SignalingEvents[K]>): void {
    for (const h of [...(this.handlers[event] ?? [])]) (h as (...a: unknown[]) => void)(...args);
  }
}

export class FakeChannel extends EventTarget {
  readyState = 'connecting';
  bufferedAmount = 0;
  bufferedAmountLowThreshold = 0;
  binaryType = 'blob';
  sent: string[] = [];
  constructor(readonly label: string) {
    super();
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 'closed';
  }
  openNow() {
    this.readyState = 'open';
    this.dispatchEvent(new Event('open'));
  }
  closeNow() {
    this.readyState = 'closed';
    this.dispatchEvent(new Event('close'));
  }
  message(data: unknown) {
    const ev = new Event('message') as Event & { data: unknown };
    ev.data = data;
    this.dispatchEvent(ev);
  }
}

export class FakePeerConnection {
  static all: FakePeerConnection[] = [];
  signalingState: RTCSignalingState = 'stable';
  connectionState: RTCPeerConnectionState = 'new';
  iceConnectionState: RTCIceConnectionState = 'new';
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescriptions: Array<{ type: string; sdp: string }> = [];
  channels: FakeChannel[] = [];
  closed = false;
  restarts = 0;
  sctp = { maxMessageSize: 262144 };
  onnegotiationneeded: (() => void) | null = null;
  onicecandidate: ((ev: { candidate: unknown }) => void) | null = null;
  transceivers: Array<{ kind: string; sender: { track: unknown; replaceTrack(t: unknown): Promise<void> } }> =
    [];
  offers: Array<RTCOfferOptions | undefined> = [];
  ontrack: (() => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  oniceconnectionstatechange: (() => void) | null = null;
  constructor(readonly config: RTCConfiguration) {
    FakePeerConnection.all.push(this);
  }
  get remoteDescription() {
    return this.remoteDescriptions.at(-1) ?? null;
  }
  async setRemoteDescription(d: { type: string; sdp: string }) {
    this.remoteDescriptions.push(d);
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  async createOffer(options?: RTCOfferOptions) {
    this.offers.push(options);
    return { type: 'offer', sdp: `${sdpWith(FP)}a=ice-ufrag:${options?.iceRestart ? 'new' : 'old'}\r\n` };
  }
  addTransceiver(kind: string) {
    const sender = {
      track: null as unknown,
      async replaceTrack(t: unknown) {
        sender.track = t;
      },
    };
    const t = { kind, sender };
    this.transceivers.push(t);
    return t;
  }
  async setLocalDescription(given?: { type: string; sdp: string }) {
    const type = this.signalingState === 'have-remote-offer' ? 'answer' : 'offer';
    this.localDescription = given ?? { type, sdp: `${sdpWith(FP)}a=ice-ufrag:old\r\n` };
    this.signalingState = type === 'answer' ? 'stable' : 'have-local-offer';
  }
  candidates: unknown[] = [];
  async addIceCandidate(candidate: unknown) {
    this.candidates.push(candidate);
  }
  addTrack() {
    return { replaceTrack: async () => {} };
  }
  getTransceivers() {
    return [];
  }
  getSenders() {
    return this.transceivers.map((t) => t.sender);
  }
  getConfiguration() {
    return this.config;
  }
  setConfiguration() {}
  restartIce() {
    this.restarts++;
  }
  createDataChannel(label: string) {
    const c = new FakeChannel(label);
    this.channels.push(c);
    return c;
  }
  async getStats() {
    return new Map();
  }
  close() {
    this.closed = true;
  }
  setConnection(state: RTCPeerConnectionState) {
    this.connectionState = state;
    this.onconnectionstatechange?.();
  }
}
