/**
 * Turns one text frame from a client into a typed message or an error to send back.
 *
 * The schemas in src/protocol/signaling.ts are the single source of truth. `signal` is the
 * hot path (every SDP and ICE candidate), so it is checked by `isSignalMessage`, a
 * hand-written copy of SignalOutSchema's rules that is ~15× cheaper than the generic
 * validator; client-message.test.ts proves with fast-check that both accept exactly the same
 * values. Every other message goes through valibot.
 */
import * as v from 'valibot';
import {
  PRESENCE_CLIENT_TYPES,
  type PresenceClientMessage,
  PresenceClientMessageSchema,
} from '../src/protocol/presence.ts';
import {
  type ClientMessage,
  ClientMessageSchema,
  type ErrorCode,
  PEER_ID_PATTERN,
  PROTOCOL_VERSION,
  type SignalOutMessage,
} from '../src/protocol/signaling.ts';

export type Decoded =
  | { ok: true; message: ClientMessage | PresenceClientMessage }
  /** `fatal`: a malformed presence or ring message; the socket is closed after the error. */
  | { ok: false; code: ErrorCode; message: string; fatal?: true };

const KNOWN_TYPES = new Set([
  'join',
  'signal',
  'park',
  'leave',
  'ping',
  'count-nonce',
  'count',
  ...PRESENCE_CLIENT_TYPES,
]);

/** Exactly SignalOutSchema: own keys v, type, to, data and nothing else; `to` a peer id. */
export function isSignalMessage(raw: unknown): raw is SignalOutMessage {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  const o = raw as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION || o.type !== 'signal') return false;
  const to = o.to;
  if (typeof to !== 'string' || to.length !== 22 || !PEER_ID_PATTERN.test(to)) return false;
  if (!Object.hasOwn(o, 'data')) return false;
  let keys = 0;
  for (const key in o) {
    if (!Object.hasOwn(o, key)) return false;
    keys++;
  }
  // v, type, to, data are own keys (checked above), so four keys means no extras.
  return keys === 4 && Object.hasOwn(o, 'v') && Object.hasOwn(o, 'type') && Object.hasOwn(o, 'to');
}

/** Sentinel for text that is not JSON (cheaper than a try/catch around the caller's hot path). */
export const NOT_JSON: unique symbol = Symbol('not JSON');

/** JSON.parse, or NOT_JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

export function decodeClientMessage(text: string): Decoded {
  return decodeParsed(parseJson(text));
}

/**
 * The checks of decodeClientMessage on an already parsed value (the relay parses once, tries
 * isSignalMessage on the hot path, and only comes here for everything else).
 */
export function decodeParsed(raw: unknown): Decoded {
  if (raw === NOT_JSON) return { ok: false, code: 'bad-json', message: 'That message is not valid JSON.' };
  if (isSignalMessage(raw)) return { ok: true, message: raw };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 'bad-message', message: 'A message must be a JSON object.' };
  }
  const o = raw as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION) {
    return Object.hasOwn(o, 'v')
      ? {
          ok: false,
          code: 'unsupported-version',
          message: `This server speaks protocol version ${PROTOCOL_VERSION}; update Parley to talk to it.`,
        }
      : { ok: false, code: 'bad-message', message: `A message needs "v": ${PROTOCOL_VERSION}.` };
  }
  if (typeof o.type !== 'string' || !KNOWN_TYPES.has(o.type)) {
    return { ok: false, code: 'bad-message', message: 'Unknown message type.' };
  }
  const presence = PRESENCE_CLIENT_TYPES.has(o.type);
  const result = presence
    ? v.safeParse(PresenceClientMessageSchema, raw)
    : v.safeParse(ClientMessageSchema, raw);
  if (result.success) return { ok: true, message: result.output };
  const issue = result.issues[0];
  const where = issue?.path?.map((p) => String(p.key)).join('.') || 'message';
  const message = `Invalid "${o.type}" message: check ${where}.`;
  // A presence client that sends a malformed presence or ring message is broken or hostile:
  // it is told why and disconnected (rooms keep their lenient error-and-continue).
  return presence
    ? { ok: false, code: 'bad-message', message, fatal: true }
    : { ok: false, code: 'bad-message', message };
}

const CANONICAL_PREFIX = `{"v":${PROTOCOL_VERSION},"type":"signal","to":"`;
const DATA_KEY = '","data":';

/**
 * The raw JSON text of `data` in a `signal` frame that `decodeClientMessage` already accepted,
 * so the relay can forward it without re-serialising it (JSON.stringify of a ~500-byte SDP
 * chunk was the largest cost of the relay path). Only for the canonical key order our
 * clients send (`JSON.stringify({v, type, to, data})`); anything else returns null and
 * takes the slow path. Safe because the whole frame parsed as one object with exactly these
 * four keys, and `to` matched: what follows `"data":` up to the closing brace is the data
 * value, at most followed by duplicate members of the same four keys. A duplicate `to` is
 * sent to the slow path; the others parse on the receiving side to the same values.
 */
export function rawSignalData(text: string, to: string): string | null {
  const end = rawSignalDataEnd(text, to);
  return end === -1 ? null : text.slice(rawSignalDataStart(to), end);
}

/** Where `data` starts in a canonical signal frame (all ASCII before it: chars = bytes). */
export function rawSignalDataStart(to: string): number {
  return CANONICAL_PREFIX.length + to.length + DATA_KEY.length;
}

/** Where `data` ends (exclusive) in a canonical signal frame, or -1 (see rawSignalData). */
export function rawSignalDataEnd(text: string, to: string): number {
  if (!text.startsWith(CANONICAL_PREFIX)) return -1;
  const at = CANONICAL_PREFIX.length;
  if (!text.startsWith(to, at) || !text.startsWith(DATA_KEY, at + to.length)) return -1;
  const start = at + to.length + DATA_KEY.length;
  let end = text.length - 1;
  while (end > start && text.charCodeAt(end) !== 0x7d /* } */) end--;
  if (end <= start) return -1;
  // Only the closing brace and whitespace follow `end`, so searching to the end of the text is
  // searching the data (without slicing it out first).
  if (text.indexOf('"to"', start) !== -1 || text.indexOf('\\u', start) !== -1) return -1;
  return end;
}
