/** Layout and active-speaker choice for the stage's tiles (the DOM is exercised in test/e2e/group-call.test.ts). */
import { describe, expect, it } from 'vitest';
import { personState } from './people-panel.ts';
import { chooseLayout, pickSpeaker, SPEAKING_LEVEL } from './tiles.ts';

describe('chooseLayout', () => {
  it('one tile big; two or more in the chosen mode', () => {
    expect(chooseLayout(0, 'grid')).toBe('single');
    expect(chooseLayout(1, 'speaker')).toBe('single');
    expect(chooseLayout(2, 'grid')).toBe('grid');
    expect(chooseLayout(5, 'speaker')).toBe('speaker');
  });
});

describe('pickSpeaker', () => {
  const loud = SPEAKING_LEVEL * 10;
  it('is nobody while everyone is quiet', () => {
    expect(
      pickSpeaker(
        new Map([
          ['a', 0],
          ['b', null],
        ]),
        null,
      ),
    ).toBe(null);
  });
  it('is the loudest one above the speaking level', () => {
    expect(
      pickSpeaker(
        new Map([
          ['a', loud],
          ['b', loud * 2],
        ]),
        null,
      ),
    ).toBe('b');
  });
  it('keeps the current speaker unless someone is clearly louder', () => {
    expect(
      pickSpeaker(
        new Map([
          ['a', loud],
          ['b', loud * 1.2],
        ]),
        'a',
      ),
    ).toBe('a');
    expect(
      pickSpeaker(
        new Map([
          ['a', loud],
          ['b', loud * 3],
        ]),
        'a',
      ),
    ).toBe('b');
  });
  it('stays on the last speaker through a pause, and lets go of someone who left', () => {
    expect(
      pickSpeaker(
        new Map([
          ['a', 0],
          ['b', 0],
        ]),
        'a',
      ),
    ).toBe('a');
    expect(pickSpeaker(new Map([['b', 0]]), 'a')).toBe(null);
  });
});

describe('personState', () => {
  it('says what a person would want to know, nothing when all is well', () => {
    expect(personState({ micOn: true, cameraOn: true, connection: 'connected' }, 'video')).toBe('');
    expect(personState({ micOn: false, cameraOn: false, connection: 'reconnecting' }, 'video')).toBe(
      'reconnecting…, muted, camera off',
    );
    expect(personState({ micOn: true, cameraOn: false }, 'audio')).toBe('');
    expect(personState({ micOn: true, cameraOn: true, connection: 'connected' }, 'video', true)).toBe(
      'speaking',
    );
  });
});
