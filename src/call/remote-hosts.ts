/**
 * Which of the other side's host candidates a connection with a TURN server should use.
 *
 * ICE pairs every local candidate with every remote one, so our TURN relay is also asked to
 * send checks to the other side's *private* host address (10.x, 192.168.x…), which the TURN
 * server can rarely reach. Some TURN servers (coturn without `denied-peer-ip`, on a host with
 * no route there) then close the whole allocation, and with it a pair that was carrying the
 * call ("connected", then nothing after half a second; see docs/architecture.md, "When media
 * stops"). A private address is only of use to us from our own network: so, when a TURN
 * server is configured, a remote host candidate with a private address is used only if one
 * of our own host candidates is on the same subnet (the same /24, or /64 for IPv6); the others
 * are dropped. Public host addresses, mDNS names (`….local`, which only resolve on the same
 * LAN) and every other candidate type pass. Until our own host candidates are known (an
 * answerer sees the offer's candidates before it gathers) private ones are held, added as soon
 * as one of ours matches, and dropped when our gathering completes.
 *
 * Pure logic: the connection feeds it our candidates and asks about theirs.
 */
import { isHostCandidate } from './media-watchdog.ts';

/** The address field of a candidate (`candidate:…` or `a=candidate:…`), or null. */
export function candidateAddress(candidate: string): string | null {
  const fields = candidate.replace(/^a=/, '').trim().split(/\s+/);
  return fields.length >= 8 ? (fields[4] ?? null) : null;
}

function ipv4(address: string): number[] | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : null;
}

/** The 8 hextets of an IPv6 address, or null. */
function ipv6(address: string): number[] | null {
  const bare = address.replace(/^\[|\]$/g, '').split('%')[0] ?? '';
  if (!bare.includes(':') || bare.includes('.')) return null;
  const [head = '', tail, extra] = bare.split('::');
  if (extra !== undefined) return null;
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return null;
  const groups = [...left, ...Array<string>(Math.max(missing, 0)).fill('0'), ...right];
  const words = groups.map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? Number.parseInt(g, 16) : Number.NaN));
  return words.every((w) => !Number.isNaN(w)) ? words : null;
}

/**
 * An address no one outside its own network can reach: RFC 1918, carrier-grade NAT
 * (100.64/10), link-local, loopback; IPv6 unique-local (fc00::/7), link-local, loopback.
 */
export function isPrivateAddress(address: string): boolean {
  const v4 = ipv4(address);
  if (v4) {
    const [a = 0, b = 0] = v4;
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254)
    );
  }
  const v6 = ipv6(address);
  if (v6) {
    const first = v6[0] ?? 0;
    const loopback = v6.slice(0, 7).every((w) => w === 0) && v6[7] === 1;
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || loopback;
  }
  return false;
}

/** The address's subnet as we compare them: its /24 (IPv4) or /64 (IPv6); null if not an IP. */
export function subnetOf(address: string): string | null {
  const v4 = ipv4(address);
  if (v4) return `4:${v4.slice(0, 3).join('.')}`;
  const v6 = ipv6(address);
  if (v6) return `6:${v6.slice(0, 4).join(':')}`;
  return null;
}

export type RemoteHostVerdict = 'add' | 'hold' | 'drop';

export class RemoteHostGate {
  readonly #localSubnets = new Set<string>();
  #gathered = false;
  #held: RTCIceCandidateInit[] = [];

  /** `enabled`: a TURN server is configured (without one nothing is filtered). */
  constructor(private readonly enabled: () => boolean) {}

  /**
   * One of our own candidates (null: our gathering completed). Returns the held remote
   * candidates to add now.
   */
  local(candidate: string | null): RTCIceCandidateInit[] {
    if (candidate === null) {
      this.#gathered = true;
      this.#held = [];
      return [];
    }
    if (!isHostCandidate(candidate)) return [];
    const subnet = subnetOf(candidateAddress(candidate) ?? '');
    if (!subnet || this.#localSubnets.has(subnet)) return [];
    this.#localSubnets.add(subnet);
    const released = this.#held.filter((c) => subnetOf(candidateAddress(c.candidate ?? '') ?? '') === subnet);
    this.#held = this.#held.filter((c) => !released.includes(c));
    return released;
  }

  /** Our gathering is complete (a connection whose gathering ended before we watched it). */
  gathered(): void {
    this.local(null);
  }

  /** What to do with one of their candidates ('hold': kept here, see `local`). */
  remote(candidate: RTCIceCandidateInit): RemoteHostVerdict {
    const line = candidate.candidate ?? '';
    if (!this.enabled() || !isHostCandidate(line)) return 'add';
    const address = candidateAddress(line);
    if (!address || !isPrivateAddress(address)) return 'add';
    const subnet = subnetOf(address);
    if (subnet && this.#localSubnets.has(subnet)) return 'add';
    if (this.#gathered) return 'drop';
    this.#held.push(candidate);
    return 'hold';
  }

  /**
   * A remote description without the host candidates `remote` does not add now (the held
   * ones come back through `local`).
   */
  filterDescription(sdp: string): string {
    if (!this.enabled()) return sdp;
    const lines = sdp.split('\r\n');
    // A section's mid and ufrag may come after its candidates: find them first.
    const sections: { mid: string | null; ufrag: string | null }[] = [];
    let sessionUfrag: string | null = null;
    for (const line of lines) {
      const section = sections[sections.length - 1];
      if (line.startsWith('m=')) sections.push({ mid: null, ufrag: null });
      else if (line.startsWith('a=mid:') && section) section.mid = line.slice('a=mid:'.length);
      else if (line.startsWith('a=ice-ufrag:')) {
        const ufrag = line.slice('a=ice-ufrag:'.length);
        if (section) section.ufrag = ufrag;
        else sessionUfrag = ufrag;
      }
    }
    let mLineIndex = -1;
    return lines
      .filter((line) => {
        if (line.startsWith('m=')) mLineIndex++;
        if (!line.startsWith('a=candidate:')) return true;
        const section = sections[mLineIndex];
        return (
          this.remote({
            candidate: line.slice(2),
            sdpMid: section?.mid ?? null,
            sdpMLineIndex: Math.max(mLineIndex, 0),
            usernameFragment: section?.ufrag ?? sessionUfrag,
          }) === 'add'
        );
      })
      .join('\r\n');
  }
}
