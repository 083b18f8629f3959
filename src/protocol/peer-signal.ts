/**
 * What one peer sends another through the signaling server (`signal.data`). The server
 * relays it untouched, so to the receiver it is untrusted input: every payload is parsed
 * here and anything that does not fit is dropped.
 *
 *   - `description`: an SDP offer or answer plus `auth`, which binds the sender's DTLS
 *     fingerprints to the call: the link secret's HMAC (src/call/verify.ts), or in a call
 *     between contacts the sender's key and its signature (src/call/identity-signed-auth.ts).
 *   - `candidate`: one trickled ICE candidate (`candidate: null` = end of candidates).
 *   - `bye`: the sender hung up (best effort; the control channel carries it too).
 */
import * as v from 'valibot';

/** Chrome's SDP for audio + video + data is ~6 KB; leave generous room, refuse the absurd. */
export const MAX_SDP_LENGTH = 48 * 1024;
export const MAX_CANDIDATE_LENGTH = 1024;

/** A link call's MAC (43 characters), or a contact call's `<key 43>.<signature 86>`. */
const Auth = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}(?:\.[A-Za-z0-9_-]{86})?$/));

export const DescriptionSignalSchema = v.strictObject({
  kind: v.literal('description'),
  description: v.strictObject({
    type: v.picklist(['offer', 'answer']),
    sdp: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_SDP_LENGTH)),
  }),
  /** base64url(HMAC-SHA256(...)), or base64url(key) "." base64url(Ed25519 signature). */
  auth: Auth,
});

export const CandidateSignalSchema = v.strictObject({
  kind: v.literal('candidate'),
  candidate: v.nullable(
    v.strictObject({
      candidate: v.pipe(v.string(), v.maxLength(MAX_CANDIDATE_LENGTH)),
      sdpMid: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(64)))),
      sdpMLineIndex: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(64)))),
      usernameFragment: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(256)))),
    }),
  ),
});

export const ByeSignalSchema = v.strictObject({ kind: v.literal('bye') });

export const PeerSignalSchema = v.variant('kind', [
  DescriptionSignalSchema,
  CandidateSignalSchema,
  ByeSignalSchema,
]);

export type PeerSignal = v.InferOutput<typeof PeerSignalSchema>;
export type DescriptionSignal = v.InferOutput<typeof DescriptionSignalSchema>;
export type CandidateSignal = v.InferOutput<typeof CandidateSignalSchema>;

/** Returns the payload when it is well formed, else null (the caller drops it). */
export function parsePeerSignal(data: unknown): PeerSignal | null {
  const result = v.safeParse(PeerSignalSchema, data);
  return result.success ? result.output : null;
}
