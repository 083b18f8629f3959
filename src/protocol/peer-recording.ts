/**
 * Recording with everyone's consent, on the control data channel (src/call/recording/):
 *   - `rec-ask`: the sender wants to record the call (request `id`); the receiver is asked.
 *   - `rec-answer`: the receiver's answer to that request.
 *   - `rec-state`: the sender's recording is `recording`, `paused` (waiting for a newcomer's
 *     answer) or `stopped`; `declinedBy` names who declined when that stopped it.
 * The recorder's name is never in a message: the receiver uses the name of the link it came on.
 */
import * as v from 'valibot';
import { MAX_NAME_LENGTH } from './peer-call.ts';

/** The control-message types recording owns (src/call/peer-link.ts routes them). */
export const RECORDING_TYPES = ['rec-ask', 'rec-answer', 'rec-state'] as const;

const RequestId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{8,64}$/));

export const RecordingAskSchema = v.strictObject({ t: v.literal('rec-ask'), id: RequestId });

export const RecordingAnswerSchema = v.strictObject({
  t: v.literal('rec-answer'),
  id: RequestId,
  allow: v.boolean(),
});

export const RecordingStateSchema = v.strictObject({
  t: v.literal('rec-state'),
  id: RequestId,
  state: v.picklist(['recording', 'paused', 'stopped']),
  declinedBy: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(MAX_NAME_LENGTH))),
});

export const RecordingMessageSchema = v.variant('t', [
  RecordingAskSchema,
  RecordingAnswerSchema,
  RecordingStateSchema,
]);
export type RecordingMessage = v.InferOutput<typeof RecordingMessageSchema>;

/** A valid recording message, or null (malformed: the caller drops it). */
export function parseRecordingMessage(raw: unknown): RecordingMessage | null {
  const result = v.safeParse(RecordingMessageSchema, raw);
  return result.success ? result.output : null;
}
