import { describe, expect, it } from 'vitest';
import { splitLinks } from './chat-links.ts';

describe('splitLinks', () => {
  it('finds http and https links inside text', () => {
    expect(splitLinks('see https://example.com/a?b=1 and http://x.org')).toEqual([
      { text: 'see ' },
      { text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { text: ' and ' },
      { text: 'http://x.org', href: 'http://x.org/' },
    ]);
  });

  it('leaves sentence punctuation outside the link but keeps balanced parentheses', () => {
    expect(splitLinks('Look: https://example.com.')).toEqual([
      { text: 'Look: ' },
      { text: 'https://example.com', href: 'https://example.com/' },
      { text: '.' },
    ]);
    const wiki = splitLinks('https://en.wikipedia.org/wiki/Foo_(bar))');
    expect(wiki[0]).toEqual({
      text: 'https://en.wikipedia.org/wiki/Foo_(bar)',
      href: 'https://en.wikipedia.org/wiki/Foo_(bar)',
    });
  });

  it('never links other schemes', () => {
    for (const text of [
      'javascript:alert(1)',
      'data:text/html,<b>x</b>',
      'file:///etc/passwd',
      'ftp://x.org',
    ]) {
      expect(splitLinks(text)).toEqual([{ text }]);
    }
  });

  it('keeps markup as plain text', () => {
    expect(splitLinks('<img src=x onerror=alert(1)>')).toEqual([{ text: '<img src=x onerror=alert(1)>' }]);
    expect(splitLinks('<a href="https://evil.example">x</a>')).toEqual([
      { text: '<a href="' },
      { text: 'https://evil.example', href: 'https://evil.example/' },
      { text: '">x</a>' },
    ]);
  });

  it('returns nothing for an empty message', () => {
    expect(splitLinks('')).toEqual([]);
  });
});
