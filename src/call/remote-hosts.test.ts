import { describe, expect, test } from 'vitest';
import { candidateAddress, isPrivateAddress, RemoteHostGate, subnetOf } from './remote-hosts.ts';

const host = (ip: string, port = 5000) => `candidate:1 1 udp 2122260223 ${ip} ${port} typ host generation 0`;
const srflx = 'candidate:2 1 udp 1686052607 203.0.113.10 7317 typ srflx raddr 10.2.0.2 rport 41581';
const relay = 'candidate:3 1 udp 41885439 198.51.100.20 50959 typ relay raddr 203.0.113.10 rport 7317';

describe('addresses', () => {
  test('private, carrier-grade NAT, link-local and loopback addresses are private; the rest is not', () => {
    for (const ip of [
      '10.2.0.2',
      '172.16.0.1',
      '172.31.9.9',
      '192.168.1.7',
      '100.64.3.4',
      '169.254.1.1',
      '127.0.0.1',
    ])
      expect(isPrivateAddress(ip), ip).toBe(true);
    for (const ip of [
      '203.0.113.10',
      '172.32.0.1',
      '100.128.0.1',
      '8.8.8.8',
      '2001:db8::1',
      'abc.local',
      'x',
    ])
      expect(isPrivateAddress(ip), ip).toBe(false);
    for (const ip of ['fd12:3456::1', 'fe80::1%eth0', '::1']) expect(isPrivateAddress(ip), ip).toBe(true);
  });

  test('subnets are /24 and /64; a candidate address is its fifth field', () => {
    expect(subnetOf('10.1.0.2')).toBe(subnetOf('10.1.0.200'));
    expect(subnetOf('10.1.0.2')).not.toBe(subnetOf('10.2.0.2'));
    expect(subnetOf('fd00:1:2:3::5')).toBe(subnetOf('fd00:1:2:3:aaaa::9'));
    expect(subnetOf('fd00:1:2:3::5')).not.toBe(subnetOf('fd00:1:2:4::5'));
    expect(subnetOf('abc.local')).toBeNull();
    expect(candidateAddress(`a=${host('10.2.0.2')}`)).toBe('10.2.0.2');
    expect(candidateAddress('candidate:1 1 udp')).toBeNull();
  });
});

describe('RemoteHostGate', () => {
  test('with a TURN server, their private host candidates off our subnets are dropped, others pass', () => {
    const gate = new RemoteHostGate(() => true);
    expect(gate.local(host('10.1.0.2'))).toEqual([]);
    gate.gathered();
    expect(gate.remote({ candidate: host('10.2.0.2') })).toBe('drop');
    expect(gate.remote({ candidate: host('10.1.0.9') })).toBe('add');
    expect(gate.remote({ candidate: host('198.51.100.7') })).toBe('add');
    expect(gate.remote({ candidate: host('0e1c-aa.local') })).toBe('add');
    expect(gate.remote({ candidate: srflx })).toBe('add');
    expect(gate.remote({ candidate: relay })).toBe('add');
  });

  test('without a TURN server nothing is filtered', () => {
    const gate = new RemoteHostGate(() => false);
    gate.gathered();
    expect(gate.remote({ candidate: host('10.2.0.2') })).toBe('add');
  });

  test('before we know our own, private ones are held: released by a match, dropped when gathering ends', () => {
    const gate = new RemoteHostGate(() => true);
    const same = { candidate: host('192.168.1.7'), sdpMid: '0' };
    const other = { candidate: host('10.2.0.2'), sdpMid: '0' };
    expect(gate.remote(same)).toBe('hold');
    expect(gate.remote(other)).toBe('hold');
    expect(gate.local(relay)).toEqual([]);
    expect(gate.local(host('192.168.1.3'))).toEqual([same]);
    expect(gate.local(null)).toEqual([]);
    expect(gate.local(host('10.2.0.5'))).toEqual([]); // `other` was dropped with the end of gathering
  });

  test('a description loses the host candidates it cannot use; held ones keep their section and ufrag', () => {
    const gate = new RemoteHostGate(() => true);
    const sdp = [
      'v=0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      `a=${host('10.2.0.2')}`,
      `a=${host('10.1.0.9', 6000)}`,
      `a=${srflx}`,
      'a=ice-ufrag:Ab12',
      'a=mid:0',
      '',
    ].join('\r\n');
    expect(gate.filterDescription(sdp)).toBe(
      ['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', `a=${srflx}`, 'a=ice-ufrag:Ab12', 'a=mid:0', ''].join(
        '\r\n',
      ),
    );
    expect(gate.local(host('10.1.0.3'))).toEqual([
      { candidate: host('10.1.0.9', 6000), sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'Ab12' },
    ]);
    gate.gathered();
    expect(gate.filterDescription(sdp)).toBe(
      [
        'v=0',
        'm=audio 9 UDP/TLS/RTP/SAVPF 111',
        `a=${host('10.1.0.9', 6000)}`,
        `a=${srflx}`,
        'a=ice-ufrag:Ab12',
        'a=mid:0',
        '',
      ].join('\r\n'),
    );
  });
});
