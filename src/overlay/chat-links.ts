/**
 * Split chat text into plain text and http(s) links. Only http: and https: become links;
 * `javascript:`, `data:`, `file:` and everything else stay text.
 */
export type ChatSegment = { text: string } | { text: string; href: string };

const CANDIDATE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
/** Punctuation that usually ends a sentence rather than a URL. */
const TRAILING = /[.,;:!?)\]}'"]+$/;

export function splitLinks(text: string): ChatSegment[] {
  const segments: ChatSegment[] = [];
  let last = 0;
  for (const match of text.matchAll(CANDIDATE)) {
    const start = match.index;
    let candidate = match[0];
    const trailing = candidate.match(TRAILING)?.[0] ?? '';
    // Keep a closing parenthesis that balances one inside the URL (Wikipedia links).
    let keep = trailing;
    if (trailing.startsWith(')') && (candidate.match(/\(/g)?.length ?? 0) > 0) keep = trailing.slice(1);
    candidate = candidate.slice(0, candidate.length - keep.length);
    const href = safeHref(candidate);
    if (!href) continue;
    if (start > last) segments.push({ text: text.slice(last, start) });
    segments.push({ text: candidate, href });
    last = start + candidate.length;
  }
  if (last < text.length) segments.push({ text: text.slice(last) });
  return segments;
}

function safeHref(candidate: string): string | null {
  try {
    const url = new URL(candidate);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (!url.hostname) return null;
    return url.href;
  } catch {
    return null;
  }
}
