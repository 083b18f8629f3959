import { describe, expect, test } from 'vitest';
import { isHostCandidate, MediaWatchdog, withoutHostCandidates } from './media-watchdog.ts';

function watched(options = {}) {
  const calls: string[] = [];
  const dog = new MediaWatchdog(
    {
      restart: (relay) => calls.push(relay ? 'restart relay' : 'restart'),
      stalled: (on) => calls.push(on ? 'stalled' : 'flowing'),
      lost: () => calls.push('lost'),
    },
    { stallMs: 2000, settleMs: 5000, steadyMs: 30_000, maxRestarts: 3, ...options },
  );
  /** Feeds one sample a second from `from` (s) with the given packet counts. */
  const feed = (from: number, counts: number[]) => {
    for (const [i, n] of counts.entries()) dog.observe(n, (from + i) * 1000);
  };
  return { calls, feed, dog };
}

describe('relay-only filtering', () => {
  test('host candidates are recognised in both spellings, others are not', () => {
    expect(isHostCandidate('candidate:1 1 udp 2122260223 10.2.0.2 41581 typ host generation 0')).toBe(true);
    expect(isHostCandidate('a=candidate:1 1 udp 2122260223 10.2.0.2 41581 typ host')).toBe(true);
    expect(
      isHostCandidate('candidate:2 1 udp 1686052607 203.0.113.10 7317 typ srflx raddr 10.2.0.2 rport 41581'),
    ).toBe(false);
    expect(
      isHostCandidate(
        'candidate:3 1 udp 41885439 198.51.100.20 50959 typ relay raddr 203.0.113.10 rport 7317',
      ),
    ).toBe(false);
  });

  test('a description loses its host candidates and nothing else', () => {
    const sdp = [
      'v=0',
      'a=candidate:1 1 udp 1 10.2.0.2 4 typ host',
      'a=candidate:3 1 udp 4 198.51.100.20 5 typ relay raddr 0.0.0.0 rport 0',
      'a=end-of-candidates',
      '',
    ].join('\r\n');
    expect(withoutHostCandidates(sdp)).toBe(
      [
        'v=0',
        'a=candidate:3 1 udp 4 198.51.100.20 5 typ relay raddr 0.0.0.0 rport 0',
        'a=end-of-candidates',
        '',
      ].join('\r\n'),
    );
  });
});

describe('MediaWatchdog', () => {
  test('media that keeps coming is left alone', () => {
    const { calls, feed } = watched();
    feed(0, [0, 50, 100, 150, 200, 250, 300]);
    expect(calls).toEqual([]);
  });

  test('media that never started (nothing to receive) is never called stalled', () => {
    const { calls, feed } = watched();
    feed(0, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(calls).toEqual([]);
  });

  test('media that arrived before the first sample and then stopped is a stall too', () => {
    const { calls, feed } = watched();
    feed(0, [12, 12, 12]);
    expect(calls).toEqual(['stalled', 'restart']);
  });

  test('media that stops: "Reconnecting…" and an ICE restart after 2 s; back: flowing', () => {
    const { calls, feed } = watched();
    feed(0, [0, 50, 100, 100, 100]);
    expect(calls).toEqual(['stalled', 'restart']);
    feed(5, [100, 100, 160]);
    expect(calls).toEqual(['stalled', 'restart', 'flowing']);
  });

  test('a restart that does not bring media back is followed by relay-only restarts, then lost', () => {
    const { calls, feed } = watched();
    feed(0, [0, 50, 100, 100, 100]); // stall at 4 s: restart
    feed(5, Array(20).fill(100));
    expect(calls).toEqual(['stalled', 'restart', 'restart relay', 'restart relay', 'lost']);
  });

  test('media that comes back for a moment and stops again escalates to relay-only', () => {
    const { calls, feed } = watched();
    feed(0, [0, 50, 100, 100, 100]); // restart at 4 s
    feed(5, [100, 110, 110, 110, 110, 110, 110]); // back at 6 s, stalls again
    expect(calls).toEqual(['stalled', 'restart', 'flowing', 'stalled', 'restart relay']);
  });

  test('a restart that held for a while counts as a success: the next stall starts with a plain restart', () => {
    const { calls, feed } = watched();
    feed(0, [0, 50, 100, 100, 100]); // restart at 4 s
    feed(
      5,
      Array.from({ length: 40 }, (_, i) => 200 + i * 50),
    ); // steady for 40 s
    feed(45, [2200, 2200, 2200]);
    expect(calls).toEqual(['stalled', 'restart', 'flowing', 'stalled', 'restart']);
  });
  test('a restart from the other side gets its time before we start one of our own', () => {
    const { calls, feed, dog } = watched();
    feed(0, [0, 50, 100, 100]); // stalled at 3 s...
    dog.remoteRestart(); // ...and the other side restarted ICE
    feed(4, [100, 100, 100, 100, 100]); // 4..8 s: within its 5 s
    expect(calls).toEqual(['stalled']);
    feed(9, [100]); // it did not bring media back: ours
    expect(calls).toEqual(['stalled', 'restart']);
  });
  test('a second without packets is told once per silence (a look at the signaling socket), before any stall', () => {
    const told: number[] = [];
    const dog = new MediaWatchdog(
      { restart: () => {}, stalled: () => {}, lost: () => {}, quiet: () => told.push(now) },
      { stallMs: 2000 },
    );
    let now = 0;
    for (const [i, n] of [0, 0, 0, 50, 100, 100, 100, 150, 150].entries()) {
      now = i * 1000;
      dog.observe(n, now);
    }
    // Nothing before media flowed; then at 5 s (the first quiet second) and 8 s.
    expect(told).toEqual([5000, 8000]);
  });
});
