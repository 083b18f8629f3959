/**
 * Chat over a peer's `control` data channel: `{ t: 'chat', id, text, sentAt }`, sent peer to
 * peer (never through the signaling server). The text is rendered as text, never as HTML.
 */
import * as v from 'valibot';

export const MAX_CHAT_TEXT = 4000;

/** The control-message types chat owns (src/call/peer-link.ts routes them). */
export const CHAT_TYPES = ['chat'] as const;

export const ChatMessageSchema = v.strictObject({
  t: v.literal('chat'),
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{8,64}$/)),
  text: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_CHAT_TEXT)),
  /** The sender's clock (ms since epoch); shown as-is, never trusted for ordering. */
  sentAt: v.pipe(v.number(), v.finite()),
});

export type ChatMessage = v.InferOutput<typeof ChatMessageSchema>;

export type ParsedChatMessage =
  | { kind: 'ok'; message: ChatMessage }
  | { kind: 'invalid' }
  | { kind: 'not-mine' };

export function parseChatMessage(raw: unknown): ParsedChatMessage {
  if (typeof raw !== 'object' || raw === null || (raw as { t?: unknown }).t !== 'chat') {
    return { kind: 'not-mine' };
  }
  const result = v.safeParse(ChatMessageSchema, raw);
  return result.success ? { kind: 'ok', message: result.output } : { kind: 'invalid' };
}
