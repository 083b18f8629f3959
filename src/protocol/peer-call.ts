/**
 * The call's own messages on the control data channel (see src/call/data-link.ts). Chat and
 * file transfer share the channel with other `t` values; `parsePeerCallMessage` returns null
 * for those, and for anything malformed, so the session simply ignores them.
 */
import * as v from 'valibot';
import { PEER_ID_PATTERN } from './signaling.ts';

export const MAX_NAME_LENGTH = 64;

export const HelloSchema = v.strictObject({
  t: v.literal('hello'),
  name: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(MAX_NAME_LENGTH)),
});

/** Whether the sender's microphone and camera are on. */
export const MediaStateSchema = v.strictObject({
  t: v.literal('media'),
  audio: v.boolean(),
  video: v.boolean(),
});

export const ByeSchema = v.strictObject({ t: v.literal('bye') });

/**
 * The sender's signaling id changed (the server lost its session, e.g. on a restart): sent
 * over the data channel, which the server cannot forge, so the receiver re-addresses its
 * signals to the same connection instead of starting a second one.
 */
export const PeerIdSchema = v.strictObject({
  t: v.literal('peer-id'),
  peerId: v.pipe(v.string(), v.regex(PEER_ID_PATTERN)),
});

/**
 * The sender's screen share: the id of the MediaStream its screen tracks are sent in (the
 * `msid` of their transceivers), or null when it is not sharing. The receiver tells a screen
 * track from a camera by that stream id (a screen is a second video track, so its kind says
 * nothing). Sent when a share starts or stops, and with the hello on every new connection.
 */
export const ScreenStateSchema = v.strictObject({
  t: v.literal('screen'),
  stream: v.nullable(v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,64}$/))),
});

export const PeerCallMessageSchema = v.variant('t', [
  HelloSchema,
  MediaStateSchema,
  ByeSchema,
  PeerIdSchema,
  ScreenStateSchema,
]);
export type PeerCallMessage = v.InferOutput<typeof PeerCallMessageSchema>;

export const PEER_CALL_TYPES: ReadonlySet<string> = new Set(['hello', 'media', 'bye', 'peer-id', 'screen']);

export type ParsedControl =
  | { kind: 'call'; message: PeerCallMessage }
  /** A `t` owned by another feature (chat, files): not ours to judge. */
  | { kind: 'other' }
  /** One of our types, or not JSON at all, but malformed. */
  | { kind: 'invalid' };

export function parsePeerCallMessage(text: unknown): ParsedControl {
  // Binary frames never belong on the control channel.
  if (typeof text !== 'string') return { kind: 'invalid' };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'invalid' };
  }
  if (typeof raw !== 'object' || raw === null || typeof (raw as { t?: unknown }).t !== 'string') {
    return { kind: 'invalid' };
  }
  if (!PEER_CALL_TYPES.has((raw as { t: string }).t)) return { kind: 'other' };
  const result = v.safeParse(PeerCallMessageSchema, raw);
  return result.success ? { kind: 'call', message: result.output } : { kind: 'invalid' };
}

/**
 * One of the call's own messages, already parsed from JSON (src/call/peer-link.ts routes the
 * PEER_CALL_TYPES here); null if malformed.
 */
export function parsePeerCallObject(raw: unknown): PeerCallMessage | null {
  const result = v.safeParse(PeerCallMessageSchema, raw);
  return result.success ? result.output : null;
}

/** Invisible or direction-flipping characters that could disguise a name. */
function isHiddenCharacter(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** Names are shown to a person: collapse whitespace, drop control characters, cap length. */
export function cleanDisplayName(name: string, fallback = 'Guest'): string {
  const visible = [...name.replace(/\s+/g, ' ')]
    .filter((ch) => !isHiddenCharacter(ch.codePointAt(0) ?? 0))
    .join('');
  const cleaned = visible.replace(/ +/g, ' ').trim();
  return [...cleaned].slice(0, MAX_NAME_LENGTH).join('') || fallback;
}
