import { describe, expect, it } from 'vitest';
import type { DataLink } from './data-link.ts';
import { PeerLink, parseControl } from './peer-link.ts';

/** A connection's channels, recording what was sent on `control`. */
function channels(readyState: RTCDataChannelState = 'open') {
  const sent: string[] = [];
  const control = { readyState, send: (data: string) => sent.push(data) } as unknown as RTCDataChannel;
  const files = { readyState } as unknown as RTCDataChannel;
  const link: DataLink = { peerId: 'p', control, files, maxMessageSize: 1000, remoteName: () => 'Ana' };
  return { link, sent };
}

describe('PeerLink', () => {
  it('parses each control message once and hands it to the owner of its type only', () => {
    const link = new PeerLink(
      'p',
      () => 'Ana',
      () => {},
    );
    link.attach(channels().link);
    const chat: unknown[] = [];
    const files: unknown[] = [];
    link.route(['chat'], (m) => chat.push(m));
    link.route(['file-offer', 'file-ack'], (m) => files.push(m));
    link.deliver('{"t":"chat","text":"hi"}');
    link.deliver('{"t":"file-ack","id":"x","bytes":1}');
    link.deliver('{"t":"from-a-newer-peer"}');
    expect(chat).toEqual([{ t: 'chat', text: 'hi' }]);
    expect(files).toEqual([{ t: 'file-ack', id: 'x', bytes: 1 }]);
    expect(() => link.route(['chat'], () => {})).toThrow(/already has a handler/);
  });

  it('reports malformed messages (not JSON, no type, binary) without routing them', () => {
    let malformed = 0;
    const link = new PeerLink(
      'p',
      () => 'Ana',
      () => malformed++,
    );
    link.attach(channels().link);
    const seen: unknown[] = [];
    link.route(['chat'], (m) => seen.push(m));
    for (const bad of ['not json', '[1]', '{"t":3}', 'null', new ArrayBuffer(2)]) link.deliver(bad);
    expect(malformed).toBe(5);
    expect(seen).toEqual([]);
    expect(parseControl('{"t":"chat"}')).toEqual({ t: 'chat' });
  });

  it('outlives a connection: pauses, holds messages for features until the next one attaches, sends on the current one', () => {
    const link = new PeerLink(
      'p',
      () => 'Ana',
      () => {},
    );
    const states: string[] = [];
    link.onState((s) => states.push(s));
    const first = channels();
    link.attach(first.link);
    const call: unknown[] = [];
    const chat: unknown[] = [];
    link.route(['hello'], (m) => call.push(m), { whilePaused: true });
    link.route(['chat'], (m) => chat.push(m));
    expect(link.send({ t: 'chat', text: 'one' })).toBe(true);
    link.detach();
    expect(link.send({ t: 'chat', text: 'lost' })).toBe(false);
    expect(link.files).toBeNull();
    link.deliver('{"t":"hello","name":"Ana"}');
    link.deliver('{"t":"chat","text":"early"}');
    expect(call).toHaveLength(1);
    expect(chat).toEqual([]);
    const second = channels();
    link.attach(second.link);
    expect(chat).toEqual([{ t: 'chat', text: 'early' }]);
    expect(link.send({ t: 'chat', text: 'two' })).toBe(true);
    expect(first.sent).toEqual(['{"t":"chat","text":"one"}']);
    expect(second.sent).toEqual(['{"t":"chat","text":"two"}']);
    expect(link.attachments).toBe(2);
    expect(link.close()).toBe(true);
    link.attach(channels().link);
    expect(states).toEqual(['open', 'paused', 'open', 'closed']);
  });

  it('holds what we send while paused and sends it once, in order, first on the next connection', () => {
    const link = new PeerLink(
      'p',
      () => 'Ana',
      () => {},
    );
    const first = channels();
    link.attach(first.link);
    expect(link.sendOrHold({ t: 'chat', text: 'one' })).toBe('sent');
    link.detach();
    expect(link.sendOrHold({ t: 'chat', text: 'two' })).toBe('held');
    expect(link.sendOrHold({ t: 'chat', text: 'three' })).toBe('held');
    // Something the state listeners send when the link opens comes after what waited.
    const off = link.onState((s) => {
      if (s !== 'open') return;
      off();
      link.sendOrHold({ t: 'chat', text: 'four' });
    });
    const second = channels();
    link.attach(second.link);
    expect(first.sent).toEqual(['{"t":"chat","text":"one"}']);
    expect(second.sent).toEqual([
      '{"t":"chat","text":"two"}',
      '{"t":"chat","text":"three"}',
      '{"t":"chat","text":"four"}',
    ]);
    // A connection whose channel is already closing: held for the one after it, not lost.
    link.detach();
    link.attach(channels('closing').link);
    expect(link.sendOrHold({ t: 'chat', text: 'five' })).toBe('held');
    expect(link.sendOrHold({ t: 'chat', text: 'six' })).toBe('held');
    link.detach();
    const third = channels();
    link.attach(third.link);
    expect(third.sent).toEqual(['{"t":"chat","text":"five"}', '{"t":"chat","text":"six"}']);
    link.close();
    expect(link.sendOrHold({ t: 'chat', text: 'gone' })).toBe('dropped');
  });
});
