/** The link secret's description authentication, as the engine uses it (primitives: verify.test.ts). */
import { describe, expect, it } from 'vitest';
import { LinkSecretAuth } from './description-auth.ts';

const FP =
  'a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const SDP = `v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n${FP}\r\n`;

describe('LinkSecretAuth', () => {
  it('what one holder of the link secret signs, another verifies; only for the sender named', async () => {
    const ana = new LinkSecretAuth('the-link-secret-the-link-secret');
    const bo = new LinkSecretAuth('the-link-secret-the-link-secret');
    await Promise.all([ana.ready, bo.ready]);
    const auth = await ana.sign('ANA', SDP);
    expect(await bo.verify('ANA', SDP, auth)).toBe(true);
    expect(await bo.verify('EVE', SDP, auth)).toBe(false);
    expect(await bo.verify('ANA', SDP.replace('AB:CD', 'AB:CE'), auth)).toBe(false);
  });

  it('someone without the secret cannot make a description verify', async () => {
    const eve = new LinkSecretAuth('not-the-link-secret-at-all-eve');
    const bo = new LinkSecretAuth('the-link-secret-the-link-secret');
    expect(await bo.verify('ANA', SDP, await eve.sign('ANA', SDP))).toBe(false);
  });
});
