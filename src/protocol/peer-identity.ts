/**
 * Identity messages between the two peers of a call, on the control data channel (like
 * peer-call.ts): the short authentication string exchange (src/identity/sas.ts). The channel
 * is DTLS-encrypted, so the server never sees these.
 */
import * as v from 'valibot';
import { NONCE_PATTERN } from './presence.ts';

const Nonce = v.pipe(v.string(), v.regex(NONCE_PATTERN));

/** The responder pressed **Verify** first: asks the initiator to commit. */
export const SasRequestSchema = v.strictObject({ t: v.literal('sas-request') });
/** The initiator's commitment to its nonce (SHA-256, base64url, 43 characters). */
export const SasCommitSchema = v.strictObject({ t: v.literal('sas-commit'), commitment: Nonce });
/** The responder's nonce, sent only after it holds the commitment. */
export const SasNonceSchema = v.strictObject({ t: v.literal('sas-nonce'), nonce: Nonce });
/** The initiator's nonce, revealed last; the responder checks it against the commitment. */
export const SasRevealSchema = v.strictObject({ t: v.literal('sas-reveal'), nonce: Nonce });

export const SasMessageSchema = v.variant('t', [
  SasRequestSchema,
  SasCommitSchema,
  SasNonceSchema,
  SasRevealSchema,
]);
export type SasMessage = v.InferOutput<typeof SasMessageSchema>;

export const SAS_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  'sas-request',
  'sas-commit',
  'sas-nonce',
  'sas-reveal',
]);

/** The message if it is a well-formed SAS message, else null. */
export function parseSasMessage(raw: unknown): SasMessage | null {
  const result = v.safeParse(SasMessageSchema, raw);
  return result.success ? result.output : null;
}
