import { describe, expect, it } from 'vitest';
import { parseChatMessage } from './peer-chat.ts';
import { parseFileMessage } from './peer-files.ts';

const offer = {
  t: 'file-offer',
  id: 'abcdefgh',
  index: 0,
  name: 'a.txt',
  size: 3,
  mime: 'text/plain',
  lastModified: 1,
};

describe('file messages from a peer', () => {
  it('accept a well-formed offer, multi-GB sizes included', () => {
    expect(parseFileMessage(offer).kind).toBe('ok');
    expect(parseFileMessage({ ...offer, size: 2 ** 53 - 1 }).kind).toBe('ok');
  });

  it('refuse negative, fractional or unsafe sizes, extra fields and bad ids, naming the transfer when they can', () => {
    expect(parseFileMessage({ ...offer, size: -1 })).toEqual({ kind: 'invalid', id: 'abcdefgh' });
    expect(parseFileMessage({ ...offer, size: 1.5 }).kind).toBe('invalid');
    expect(parseFileMessage({ ...offer, size: 2 ** 53 }).kind).toBe('invalid');
    expect(parseFileMessage({ ...offer, extra: 1 }).kind).toBe('invalid');
    expect(parseFileMessage({ ...offer, id: '../../x' })).toEqual({ kind: 'invalid', id: undefined });
    expect(parseFileMessage({ t: 'file-nonsense', id: 'abcdefgh' }).kind).toBe('invalid');
  });

  it('accept an offer that can continue when sent again only with both hashes, well-formed', () => {
    const head = 'a'.repeat(64);
    const key = '0123456789abcdef'.repeat(4);
    const parsed = parseFileMessage({ ...offer, resumable: { head, key } });
    expect(parsed).toEqual({ kind: 'ok', message: { ...offer, resumable: { head, key } } });
    expect(parseFileMessage({ ...offer, resume: true, resumable: { head, key } }).kind).toBe('ok');
    for (const resumable of [
      { head },
      { key },
      { head, key: key.toUpperCase() },
      { head: head.slice(1), key },
      { head: `${head}0`, key },
      { head, key, extra: 1 },
      { head: 1, key },
      'a'.repeat(64),
      null,
    ])
      expect(parseFileMessage({ ...offer, resumable })).toEqual({ kind: 'invalid', id: 'abcdefgh' });
  });

  it('refuse thumbnails that are too big or not an allowed image type', () => {
    const thumb = {
      t: 'file-thumb',
      id: 'abcdefgh',
      mime: 'image/jpeg',
      width: 10,
      height: 10,
      data: 'AAAA',
    };
    expect(parseFileMessage(thumb).kind).toBe('ok');
    expect(parseFileMessage({ ...thumb, mime: 'image/svg+xml' }).kind).toBe('invalid');
    expect(parseFileMessage({ ...thumb, mime: 'text/html' }).kind).toBe('invalid');
    expect(parseFileMessage({ ...thumb, data: 'A'.repeat(100_000) }).kind).toBe('invalid');
    expect(parseFileMessage({ ...thumb, data: '<script>' }).kind).toBe('invalid');
  });

  it('leave other messages to their owners', () => {
    expect(parseFileMessage({ t: 'chat', id: 'abcdefgh', text: 'hi', sentAt: 1 }).kind).toBe('not-mine');
    expect(parseFileMessage({ t: 'hello' }).kind).toBe('not-mine');
    expect(parseFileMessage('file-offer').kind).toBe('not-mine');
    expect(parseFileMessage(null).kind).toBe('not-mine');
  });
});

describe('chat messages from a peer', () => {
  const chat = { t: 'chat', id: 'abcdefgh', text: 'hello', sentAt: 1 };
  it('accept text up to 4000 characters, markup included (it is shown as text)', () => {
    expect(parseChatMessage(chat).kind).toBe('ok');
    expect(parseChatMessage({ ...chat, text: '<img src=x onerror=alert(1)>' }).kind).toBe('ok');
    expect(parseChatMessage({ ...chat, text: 'x'.repeat(4000) }).kind).toBe('ok');
  });
  it('refuse empty, too long or malformed messages', () => {
    expect(parseChatMessage({ ...chat, text: '' }).kind).toBe('invalid');
    expect(parseChatMessage({ ...chat, text: 'x'.repeat(4001) }).kind).toBe('invalid');
    expect(parseChatMessage({ ...chat, sentAt: 'now' }).kind).toBe('invalid');
    expect(parseChatMessage({ t: 'file-offer' }).kind).toBe('not-mine');
  });
});
