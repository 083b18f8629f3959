/**
 * The short authentication string (**Verify** in a call with a contact): both people read
 * 7 emoji (or 3 × 4 digits) to each other; if they match, nobody sits between them.
 *
 * As in Matrix's SAS and ZRTP, the string is short (42 bits), so it must not be something an
 * attacker can grind offline: the initiator first commits to a random nonce, the responder
 * answers with its own nonce, and only then does the initiator reveal its nonce. Whoever sits
 * in the middle has to fix its values before it learns the other side's, and has one guess in
 * 2^42 of making both strings equal.
 *
 *   commitment = SHA-256("parley-sas-v1|commit|<callId>|<initiator key>|<initiator fps>|<nonceI>")
 *   bytes      = HKDF-SHA256(ikm = nonceI ‖ nonceR, salt = "parley-sas-v1",
 *                 info = "parley-sas-v1|<callId>|<initiator key>|<responder key>|<initiator fps>|<responder fps>")
 *
 * (keys and nonces base64url, fps = sdpFingerprints of each side's description, 6 bytes out).
 * Each side uses the keys and fingerprints *it* sees: if anything was swapped on the way, the
 * two strings differ. The initiator is the side with the smaller public key (as text), so both
 * sides agree on roles without a round trip, whoever presses **Verify** first.
 *
 * Emoji: the first 42 bits as seven 6-bit indexes into Matrix's 64-emoji table. Digits: the
 * first 40 bits as three 13-bit numbers, each plus 1000 (1000-9191), as Matrix does.
 */
import type { SasMessage } from '../protocol/peer-identity.ts';
import { sdpFingerprints } from './binding.ts';
import { concatBytes, equalBytes, fromBase64Url, randomBytes, sha256, toBase64Url, utf8 } from './bytes.ts';
import { isPublicKey } from './keys.ts';

/** Matrix's SAS emoji table (the spec's `sas-emoji.json`), index = 6-bit value. */
export const SAS_EMOJI: readonly (readonly [emoji: string, name: string])[] = [
  ['🐶', 'Dog'],
  ['🐱', 'Cat'],
  ['🦁', 'Lion'],
  ['🐎', 'Horse'],
  ['🦄', 'Unicorn'],
  ['🐷', 'Pig'],
  ['🐘', 'Elephant'],
  ['🐰', 'Rabbit'],
  ['🐼', 'Panda'],
  ['🐓', 'Rooster'],
  ['🐧', 'Penguin'],
  ['🐢', 'Turtle'],
  ['🐟', 'Fish'],
  ['🐙', 'Octopus'],
  ['🦋', 'Butterfly'],
  ['🌷', 'Flower'],
  ['🌳', 'Tree'],
  ['🌵', 'Cactus'],
  ['🍄', 'Mushroom'],
  ['🌏', 'Globe'],
  ['🌙', 'Moon'],
  ['☁️', 'Cloud'],
  ['🔥', 'Fire'],
  ['🍌', 'Banana'],
  ['🍎', 'Apple'],
  ['🍓', 'Strawberry'],
  ['🌽', 'Corn'],
  ['🍕', 'Pizza'],
  ['🎂', 'Cake'],
  ['❤️', 'Heart'],
  ['😀', 'Smiley'],
  ['🤖', 'Robot'],
  ['🎩', 'Hat'],
  ['👓', 'Glasses'],
  ['🔧', 'Spanner'],
  ['🎅', 'Santa'],
  ['👍', 'Thumbs Up'],
  ['☂️', 'Umbrella'],
  ['⌛', 'Hourglass'],
  ['⏰', 'Clock'],
  ['🎁', 'Gift'],
  ['💡', 'Light Bulb'],
  ['📕', 'Book'],
  ['✏️', 'Pencil'],
  ['📎', 'Paperclip'],
  ['✂️', 'Scissors'],
  ['🔒', 'Lock'],
  ['🔑', 'Key'],
  ['🔨', 'Hammer'],
  ['☎️', 'Telephone'],
  ['🏁', 'Flag'],
  ['🚂', 'Train'],
  ['🚲', 'Bicycle'],
  ['✈️', 'Aeroplane'],
  ['🚀', 'Rocket'],
  ['🏆', 'Trophy'],
  ['⚽', 'Ball'],
  ['🎸', 'Guitar'],
  ['🎺', 'Trumpet'],
  ['🔔', 'Bell'],
  ['⚓', 'Anchor'],
  ['🎧', 'Headphones'],
  ['📁', 'Folder'],
  ['📌', 'Pin'],
];

export interface SasParty {
  publicKey: string;
  /** That side's description (for us: our local description; for the peer: our remote one). */
  sdp: string;
}

export interface Sas {
  /** Seven emoji with their names (show both: the names are what people read aloud). */
  emoji: { emoji: string; name: string }[];
  /** Three 4-digit numbers. */
  digits: string[];
}

export interface SasInputs {
  callId: string;
  initiator: SasParty;
  responder: SasParty;
  initiatorNonce: Uint8Array<ArrayBuffer>;
  responderNonce: Uint8Array<ArrayBuffer>;
}

export async function sasCommitment(callId: string, initiator: SasParty, nonce: Uint8Array): Promise<string> {
  const text = `parley-sas-v1|commit|${callId}|${initiator.publicKey}|${sdpFingerprints(initiator.sdp)}|${toBase64Url(nonce)}`;
  return toBase64Url(await sha256(utf8(text)));
}

export async function sasBytes(inputs: SasInputs): Promise<Uint8Array<ArrayBuffer>> {
  const { callId, initiator, responder } = inputs;
  const ikm = await crypto.subtle.importKey(
    'raw',
    concatBytes(inputs.initiatorNonce, inputs.responderNonce),
    'HKDF',
    false,
    ['deriveBits'],
  );
  const info = `parley-sas-v1|${callId}|${initiator.publicKey}|${responder.publicKey}|${sdpFingerprints(initiator.sdp)}|${sdpFingerprints(responder.sdp)}`;
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: utf8('parley-sas-v1'), info: utf8(info) },
    ikm,
    48,
  );
  return new Uint8Array(bits);
}

export function sasFromBytes(bytes: Uint8Array): Sas {
  if (bytes.length < 6) throw new Error('The SAS needs 6 bytes.');
  const b = (i: number) => bytes[i] as number;
  // 48 bits as a number (exact in a double), then 6-bit indexes from the top.
  let bits = 0;
  for (let i = 0; i < 6; i++) bits = bits * 256 + b(i);
  const emoji: Sas['emoji'] = [];
  for (let i = 0; i < 7; i++) {
    const index = Math.floor(bits / 2 ** (42 - 6 * i)) % 64;
    const [symbol, name] = SAS_EMOJI[index] as readonly [string, string];
    emoji.push({ emoji: symbol, name });
  }
  const digits = [
    ((b(0) << 5) | (b(1) >> 3)) + 1000,
    (((b(1) & 0x7) << 10) | (b(2) << 2) | (b(3) >> 6)) + 1000,
    (((b(3) & 0x3f) << 7) | (b(4) >> 1)) + 1000,
  ].map(String);
  return { emoji, digits };
}

export type SasRole = 'initiator' | 'responder';

/** What to do after a step: messages to send to the peer, and the result once there is one. */
export interface SasStep {
  send: SasMessage[];
  sas?: Sas;
  /** The exchange failed; show a plain warning and end the call. */
  failure?: 'commitment-mismatch' | 'unexpected-message';
}

type SasState = 'idle' | 'requested' | 'committed' | 'awaiting-reveal' | 'done' | 'failed';

/**
 * One SAS exchange over the call's control channel. Both sides create one with their own view
 * of the call, call `start()` when the person presses **Verify**, and feed it every SAS message
 * from the peer; each returns what to send, and finally the string to show.
 */
export class SasExchange {
  readonly role: SasRole;
  private state: SasState = 'idle';
  private readonly nonce: Uint8Array<ArrayBuffer>;
  private peerCommitment: Uint8Array | null = null;

  constructor(
    private readonly call: { callId: string; self: SasParty; peer: SasParty },
    /** Fixed only in tests. */
    nonce: Uint8Array<ArrayBuffer> = randomBytes(32),
  ) {
    if (!isPublicKey(call.self.publicKey) || !isPublicKey(call.peer.publicKey))
      throw new Error('Not a Parley public key.');
    if (call.self.publicKey === call.peer.publicKey) throw new Error('Both sides have the same key.');
    if (nonce.length !== 32) throw new Error('A SAS nonce is 32 bytes.');
    this.nonce = nonce;
    this.role = call.self.publicKey < call.peer.publicKey ? 'initiator' : 'responder';
  }

  /** The person pressed **Verify**. */
  async start(): Promise<SasStep> {
    if (this.role === 'initiator') return this.commit();
    if (this.state !== 'idle') return { send: [] };
    this.state = 'requested';
    return { send: [{ t: 'sas-request' }] };
  }

  async receive(message: SasMessage): Promise<SasStep> {
    if (this.state === 'done' || this.state === 'failed') return { send: [] };
    if (this.role === 'initiator') {
      if (message.t === 'sas-request') return this.commit();
      if (message.t === 'sas-nonce' && this.state === 'committed') {
        const peerNonce = fromBase64Url(message.nonce);
        if (peerNonce === null) return this.fail('unexpected-message');
        const sas = sasFromBytes(await sasBytes(this.inputs(this.nonce, peerNonce)));
        this.state = 'done';
        return { send: [{ t: 'sas-reveal', nonce: toBase64Url(this.nonce) }], sas };
      }
      return this.fail('unexpected-message');
    }
    if (message.t === 'sas-commit' && (this.state === 'idle' || this.state === 'requested')) {
      this.peerCommitment = fromBase64Url(message.commitment);
      this.state = 'awaiting-reveal';
      return { send: [{ t: 'sas-nonce', nonce: toBase64Url(this.nonce) }] };
    }
    if (message.t === 'sas-reveal' && this.state === 'awaiting-reveal' && this.peerCommitment !== null) {
      const peerNonce = fromBase64Url(message.nonce);
      if (peerNonce === null) return this.fail('unexpected-message');
      const expected = fromBase64Url(await sasCommitment(this.call.callId, this.call.peer, peerNonce));
      if (expected === null || !equalBytes(expected, this.peerCommitment))
        return this.fail('commitment-mismatch');
      this.state = 'done';
      return { send: [], sas: sasFromBytes(await sasBytes(this.inputs(peerNonce, this.nonce))) };
    }
    return this.fail('unexpected-message');
  }

  private async commit(): Promise<SasStep> {
    if (this.state !== 'idle') return { send: [] };
    this.state = 'committed';
    return {
      send: [
        { t: 'sas-commit', commitment: await sasCommitment(this.call.callId, this.call.self, this.nonce) },
      ],
    };
  }

  private fail(failure: NonNullable<SasStep['failure']>): SasStep {
    this.state = 'failed';
    return { send: [], failure };
  }

  private inputs(
    initiatorNonce: Uint8Array<ArrayBuffer>,
    responderNonce: Uint8Array<ArrayBuffer>,
  ): SasInputs {
    const [initiator, responder] =
      this.role === 'initiator' ? [this.call.self, this.call.peer] : [this.call.peer, this.call.self];
    return { callId: this.call.callId, initiator, responder, initiatorNonce, responderNonce };
  }
}
