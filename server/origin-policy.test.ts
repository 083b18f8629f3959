import { describe, expect, it } from 'vitest';
import { originPolicy } from './origin-policy.ts';

describe('origin policy', () => {
  const policy = originPolicy(['chrome-extension://abcdefghijklmnopabcdefghijklmnop'], false);

  it('allows a configured extension and refuses other extensions', () => {
    expect(policy.allows('chrome-extension://abcdefghijklmnopabcdefghijklmnop', 'x:1')).toBe(true);
    expect(policy.allows('chrome-extension://bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'x:1')).toBe(false);
  });

  it("allows the server's own guest page under whatever host name it is reached by", () => {
    expect(policy.allows('https://call.example.org', 'call.example.org')).toBe(true);
    expect(policy.allows('http://192.168.1.5:8787', '192.168.1.5:8787')).toBe(true);
    expect(policy.allows('https://evil.example', 'call.example.org')).toBe(false);
    expect(policy.allows('https://call.example.org.evil.example', 'call.example.org')).toBe(false);
  });

  it('refuses a missing Origin unless told otherwise', () => {
    expect(policy.allows(undefined, 'x')).toBe(false);
    expect(originPolicy([], true).allows(undefined, 'x')).toBe(true);
  });

  it('expands a wildcard to one host label run only', () => {
    const any = originPolicy(['chrome-extension://*'], false);
    expect(any.allows('chrome-extension://abcdefghijklmnopabcdefghijklmnop', undefined)).toBe(true);
    expect(any.allows('https://abcdef', undefined)).toBe(false);
    expect(any.allows('chrome-extension://a/b', undefined)).toBe(false);
    expect(any.allows('chrome-extension://a.b', undefined)).toBe(false);
  });

  it('refuses garbage and the literal "null" origin of sandboxed frames', () => {
    expect(policy.allows('null', 'null')).toBe(false);
    expect(policy.allows('::::', 'x')).toBe(false);
  });
});
