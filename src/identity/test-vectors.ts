/**
 * Fixed inputs for the identity unit tests. The expected outputs in the tests were computed
 * independently with node:crypto (OpenSSL) from these same inputs, and the emoji/digit
 * mapping by hand, so the tests pin the formats, not just our own round trips.
 * Only tests import this file.
 */
import { fromHex } from './bytes.ts';

/** RFC 8032 §7.1 test 1 secret key: its public key and empty-message signature are in the RFC. */
export const ALICE_SEED = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
export const ALICE_KEY = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
/** Bytes 0..31. */
export const BOB_SEED = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
export const BOB_KEY = 'A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg';

export const ALICE_PAIR_NONCE = new Uint8Array(32).fill(0xaa);
export const BOB_PAIR_NONCE = new Uint8Array(32).fill(0xbb);

export const CALL_ID = 'AAECAwQFBgcICQoLDA0ODw';
export const ROOM = 'q3Yx0Jm2lS1m3Uu9Yw0h3A';
export const ALICE_PEER_ID = 'AAAAAAAAAAAAAAAAAAAAAA';
export const BOB_PEER_ID = 'BBBBBBBBBBBBBBBBBBBBBB';

export const FP_ALICE =
  'a=fingerprint:sha-256 3E:1A:9C:0B:77:12:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD';
export const FP_BOB =
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF';
export const FP_MALLORY =
  'a=fingerprint:sha-256 77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77';

/** A minimal description with one fingerprint (repeated per m-line, as browsers do). */
export function sdpWith(fingerprint: string): string {
  return [
    'v=0',
    'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    fingerprint,
    'a=setup:actpass',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    fingerprint,
    '',
  ].join('\r\n');
}
