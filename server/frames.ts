/**
 * Every frame the server sends, built by hand in one place.
 *
 * Peer ids, room ids and resume tokens are server-checked base64url (no characters that need
 * escaping in JSON), so most frames are plain template strings; `data` is always JSON text
 * that was parsed from a client's frame (or is the raw bytes of one, see relayedSignalFrame).
 */
import { type ErrorCode, type IceServer, PROTOCOL_VERSION } from '../src/protocol/signaling.ts';
import { rawSignalDataEnd, rawSignalDataStart } from './client-message.ts';

/** Listed in `joined.features`: what clients may use beyond the base protocol. */
export const FEATURES: readonly string[] = ['park'];

export const ERROR_TEXT: Partial<Record<ErrorCode, string>> = {
  'binary-not-supported': 'Binary frames are not supported; send JSON text.',
  'not-joined': 'Join a room first.',
  'already-joined': 'This connection is already in a room; open another connection for another room.',
  'room-full': 'This call is full.',
  'unknown-peer': 'No such peer in your room (it may have left).',
  'rate-limited': 'Too many messages; slow down.',
  'server-shutdown': 'The server is restarting; reconnect in a moment.',
  unavailable: 'The call server cannot reach its room store right now; trying again in a moment.',
  internal: 'Something went wrong on the server; please try again.',
};

export function errorFrame(code: ErrorCode, message?: string): string {
  return JSON.stringify({
    v: PROTOCOL_VERSION,
    type: 'error',
    code,
    message: message ?? ERROR_TEXT[code] ?? 'Invalid message.',
  });
}

export interface JoinedFields {
  room: string;
  peerId: string;
  resumeToken: string;
  /** The other live members, oldest first. */
  peers: readonly string[];
  iceServers: readonly IceServer[];
  capacity: number;
}

export function joinedFrame(f: JoinedFields): string {
  return JSON.stringify({
    v: PROTOCOL_VERSION,
    type: 'joined',
    room: f.room,
    peerId: f.peerId,
    resumeToken: f.resumeToken,
    peers: f.peers,
    iceServers: f.iceServers,
    capacity: f.capacity,
    features: FEATURES,
  });
}

/** `parked: true` tells the joined-to peer that its parked message went to this newcomer. */
export function peerJoinedFrame(peerId: string, parked = false): string {
  return parked
    ? `{"v":${PROTOCOL_VERSION},"type":"peer-joined","peerId":"${peerId}","parked":true}`
    : `{"v":${PROTOCOL_VERSION},"type":"peer-joined","peerId":"${peerId}"}`;
}

export function peerLeftFrame(peerId: string): string {
  return `{"v":${PROTOCOL_VERSION},"type":"peer-left","peerId":"${peerId}"}`;
}

/** A `signal` from `from` whose data is `dataJson`, JSON text made by JSON.stringify. */
export function signalFrame(from: string, dataJson: string): string {
  return `{"v":${PROTOCOL_VERSION},"type":"signal","from":"${from}","data":${dataJson}}`;
}

export const PONG_FRAME = `{"v":${PROTOCOL_VERSION},"type":"pong"}`;

const RELAY_HEAD = Buffer.from(`{"v":${PROTOCOL_VERSION},"type":"signal","from":"`, 'latin1');
const RELAY_DATA_KEY = Buffer.from('","data":', 'latin1');

/**
 * The frame the relay sends for a canonical `signal` frame that decodeClientMessage accepted:
 * `{"v":1,"type":"signal","from":"<from>","data":<the data bytes of the received frame>}`, built
 * by copying bytes (no string re-encoding), or null when the frame is not canonical (see
 * rawSignalData; the caller then re-serialises `data`). `frame` holds the received bytes and
 * `text` their decoded string; `from` is a server-made peer id (ASCII).
 */
export function relayedSignalFrame(from: string, frame: Buffer, text: string, to: string): Buffer | null {
  const end = rawSignalDataEnd(text, to);
  if (end === -1) return null;
  // Everything before the data and after it is ASCII: character offsets are byte offsets there.
  const start = rawSignalDataStart(to);
  const stop = frame.length - (text.length - end);
  const headLength = RELAY_HEAD.length + from.length + RELAY_DATA_KEY.length;
  const out = Buffer.allocUnsafe(headLength + (stop - start) + 1);
  let o = 0;
  for (let i = 0; i < RELAY_HEAD.length; i++) out[o++] = RELAY_HEAD[i] as number;
  for (let i = 0; i < from.length; i++) out[o++] = from.charCodeAt(i);
  for (let i = 0; i < RELAY_DATA_KEY.length; i++) out[o++] = RELAY_DATA_KEY[i] as number;
  out.set(frame.subarray(start, stop), headLength);
  out[out.length - 1] = 0x7d; // }
  return out;
}

/** The frame relayed for a valid `signal`: the fast byte copy, or `data` re-serialised. */
export function relayFrame(
  from: string,
  frame: Buffer,
  text: string,
  to: string,
  data: unknown,
): Buffer | string {
  return relayedSignalFrame(from, frame, text, to) ?? signalFrame(from, JSON.stringify(data));
}

export function countNonceFrame(nonce: string): string {
  return `{"v":${PROTOCOL_VERSION},"type":"count-nonce","nonce":"${nonce}"}`;
}

export function countFrame(room: string, people: number): string {
  return `{"v":${PROTOCOL_VERSION},"type":"count","room":"${room}","people":${people}}`;
}
