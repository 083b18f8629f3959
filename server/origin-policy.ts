/**
 * Which browser pages may open a signaling socket. Checked once, at the HTTP upgrade.
 *
 * Allowed: an Origin listed in ALLOWED_ORIGINS (a `*` stands for one run of host
 * characters, so `chrome-extension://*` is any extension), and an Origin whose host equals
 * the request's Host header: the guest page this server itself served, whatever name it is
 * reached by. A missing Origin means a non-browser client, which could send any Origin it
 * likes, so refusing it protects nothing; it is allowed unless ALLOW_NO_ORIGIN=0.
 */
export interface OriginPolicy {
  allows(origin: string | undefined, host: string | undefined): boolean;
}

function escapeRegex(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

export function originPolicy(allowed: string[], allowNoOrigin: boolean): OriginPolicy {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const entry of allowed) {
    if (entry.includes('*')) {
      patterns.push(new RegExp(`^${entry.split('*').map(escapeRegex).join('[A-Za-z0-9-]+')}$`));
    } else {
      exact.add(entry.toLowerCase());
    }
  }
  return {
    allows(origin, host) {
      if (origin === undefined || origin === '') return allowNoOrigin;
      const lower = origin.toLowerCase();
      if (exact.has(lower)) return true;
      if (patterns.some((p) => p.test(lower))) return true;
      if (host === undefined) return false;
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        return false;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
      return url.host.toLowerCase() === host.toLowerCase();
    },
  };
}
