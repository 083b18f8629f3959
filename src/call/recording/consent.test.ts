import { describe, expect, test } from 'vitest';
import { type OwnPhase, RecordingConsent } from './consent.ts';

/**
 * People in a call, each with their own RecordingConsent, joined by an in-memory control
 * channel (messages go through JSON, as on the wire). Messages are delivered when `flush` runs.
 */
class Call {
  readonly people = new Map<string, Person>();
  readonly wire: { from: string; to: string; data: string }[] = [];

  join(name: string): Person {
    const person = new Person(this, name);
    for (const other of this.people.values()) {
      this.people.set(name, person);
      other.consent.peerJoined({ id: name, name });
      person.consent.peerJoined({ id: other.name, name: other.name });
    }
    this.people.set(name, person);
    return person;
  }

  leave(name: string): void {
    this.people.delete(name);
    for (const other of this.people.values()) other.consent.peerLeft(name);
  }

  flush(): void {
    while (this.wire.length > 0) {
      const { from, to, data } = this.wire.shift()!;
      const sender = this.people.get(from);
      const receiver = this.people.get(to);
      if (!sender || !receiver) continue;
      expect(receiver.consent.receive({ id: from, name: from }, JSON.parse(data))).toBe(true);
    }
  }
}

class Person {
  readonly phases: (OwnPhase | null)[] = [];
  readonly sentences: string[] = [];
  readonly consent: RecordingConsent;
  #ids = 0;

  constructor(
    call: Call,
    readonly name: string,
  ) {
    this.consent = new RecordingConsent(name, {
      send: (to, message) => call.wire.push({ from: name, to, data: JSON.stringify(message) }),
      ownPhase: (phase) => this.phases.push(phase),
      changed: (sentence) => {
        if (sentence) this.sentences.push(sentence);
      },
      newId: () => `${name}-request-${++this.#ids}`,
    });
  }

  /** What the indicator names. */
  get recorders(): string[] {
    return this.consent.recorders.map((r) => `${r.name}:${r.state}`);
  }

  get asked(): string[] {
    return this.consent.questions.map((q) => q.recording.peer.name);
  }
}

function threePeople() {
  const call = new Call();
  const ana = call.join('Ana');
  const bo = call.join('Bo');
  const cy = call.join('Cy');
  return { call, ana, bo, cy };
}

describe('recording consent', () => {
  test('Allow: our indicator names the recorder before the answer leaves (their recorder starts on it)', () => {
    const events: string[] = [];
    const indicator = () => consent.recorders.map((r) => r.name).join(', ') || 'hidden';
    const consent: RecordingConsent = new RecordingConsent('Bo', {
      send: (_to, message) => events.push(`sent ${message.t}; indicator ${indicator()}`),
      ownPhase: () => {},
      changed: () => events.push(`drawn; indicator ${indicator()}`),
    });
    consent.peerJoined({ id: 'Ana', name: 'Ana' });
    expect(consent.receive({ id: 'Ana', name: 'Ana' }, { t: 'rec-ask', id: 'Ana-request-1' })).toBe(true);
    events.length = 0;
    consent.answer('Ana', true);
    expect(events).toEqual(['drawn; indicator Ana', 'sent rec-answer; indicator Ana']);
  });

  test('Record asks everyone else; recording starts only once all have allowed', () => {
    const { call, ana, bo, cy } = threePeople();
    expect(
      ana.consent.request(
        [...call.people.values()].filter((p) => p !== ana).map((p) => ({ id: p.name, name: p.name })),
      ),
    ).toBe(true);
    call.flush();
    expect(bo.asked).toEqual(['Ana']);
    expect(cy.asked).toEqual(['Ana']);
    expect(ana.consent.own?.phase).toBe('asking');
    expect(ana.consent.waitingFor).toEqual(['Bo', 'Cy']);

    bo.consent.answer('Ana', true);
    call.flush();
    expect(ana.phases).toEqual([]);
    expect(ana.consent.recordable('Bo')).toBe(true);
    expect(ana.consent.recordable('Cy')).toBe(false);
    // Bo allowed: his indicator shows Ana from now on (before any frame is recorded).
    expect(bo.recorders).toEqual(['Ana:pending']);
    expect(cy.recorders).toEqual([]);

    cy.consent.answer('Ana', true);
    call.flush();
    expect(ana.phases).toEqual(['recording']);
    expect(bo.recorders).toEqual(['Ana:recording']);
    expect(cy.recorders).toEqual(['Ana:recording']);
    expect(bo.asked).toEqual([]);

    ana.consent.stop();
    call.flush();
    expect(ana.phases).toEqual(['recording', null]);
    expect(bo.recorders).toEqual([]);
    expect(cy.recorders).toEqual([]);
    expect(bo.sentences).toEqual(['Ana stopped recording']);
  });

  test('one decline stops the request: nothing is recorded, and everyone is told who declined', () => {
    const { call, ana, bo, cy } = threePeople();
    ana.consent.request([
      { id: 'Bo', name: 'Bo' },
      { id: 'Cy', name: 'Cy' },
    ]);
    call.flush();
    cy.consent.answer('Ana', true);
    bo.consent.answer('Ana', false);
    call.flush();
    expect(ana.phases).toEqual([null]);
    expect(ana.consent.own).toBeNull();
    expect(ana.sentences).toEqual(['Bo declined recording']);
    expect(bo.sentences).toEqual(['Bo declined recording']);
    expect(cy.sentences).toEqual(['Bo declined recording']);
    for (const p of [bo, cy]) expect(p.recorders).toEqual([]);
    // Answers after the end change nothing.
    cy.consent.answer('Ana', true);
    call.flush();
    expect(ana.phases).toEqual([null]);
  });

  test('a newcomer while recording is asked, and recording pauses until they allow', () => {
    const call = new Call();
    const ana = call.join('Ana');
    const bo = call.join('Bo');
    ana.consent.request([{ id: 'Bo', name: 'Bo' }]);
    call.flush();
    bo.consent.answer('Ana', true);
    call.flush();
    expect(ana.phases).toEqual(['recording']);

    const cy = call.join('Cy');
    call.flush();
    expect(ana.phases).toEqual(['recording', 'paused']);
    expect(ana.consent.recordable('Cy')).toBe(false);
    expect(ana.consent.waitingFor).toEqual(['Cy']);
    expect(cy.asked).toEqual(['Ana']);
    // Cy sees the (paused) recording while asked; Bo sees it paused.
    expect(cy.recorders).toEqual(['Ana:paused']);
    expect(bo.recorders).toEqual(['Ana:paused']);

    cy.consent.answer('Ana', true);
    call.flush();
    expect(ana.phases).toEqual(['recording', 'paused', 'recording']);
    expect(ana.consent.recordable('Cy')).toBe(true);
    expect(bo.recorders).toEqual(['Ana:recording']);
    expect(cy.recorders).toEqual(['Ana:recording']);
  });

  test('a newcomer who declines stops the recording for everyone', () => {
    const call = new Call();
    const ana = call.join('Ana');
    const bo = call.join('Bo');
    ana.consent.request([{ id: 'Bo', name: 'Bo' }]);
    call.flush();
    bo.consent.answer('Ana', true);
    call.flush();
    const cy = call.join('Cy');
    call.flush();
    cy.consent.answer('Ana', false);
    call.flush();
    expect(ana.phases).toEqual(['recording', 'paused', null]);
    expect(ana.sentences).toEqual(['Cy declined recording']);
    expect(bo.sentences).toEqual(['Cy declined recording']);
    expect(cy.sentences).toEqual(['Cy declined recording']);
    expect(bo.recorders).toEqual([]);
  });

  test('someone who leaves no longer counts; the last one leaving ends a request', () => {
    const { call, ana, bo } = threePeople();
    ana.consent.request([
      { id: 'Bo', name: 'Bo' },
      { id: 'Cy', name: 'Cy' },
    ]);
    call.flush();
    bo.consent.answer('Ana', true);
    call.flush();
    call.leave('Cy');
    call.flush();
    expect(ana.phases).toEqual(['recording']);
    expect(bo.recorders).toEqual(['Ana:recording']);
    ana.consent.stop();
    call.flush();

    ana.consent.request([{ id: 'Bo', name: 'Bo' }]);
    call.flush();
    call.leave('Bo');
    expect(ana.consent.own).toBeNull();
    expect(ana.phases).toEqual(['recording', null, null]);
    // The recorder leaving takes their recording off the others' indicators.
    expect(ana.consent.request([])).toBe(false);
  });

  test('the recorder leaving removes the question and the indicator', () => {
    const { call, ana, bo, cy } = threePeople();
    ana.consent.request([
      { id: 'Bo', name: 'Bo' },
      { id: 'Cy', name: 'Cy' },
    ]);
    call.flush();
    bo.consent.answer('Ana', true);
    call.flush();
    call.leave('Ana');
    expect(bo.recorders).toEqual([]);
    expect(cy.asked).toEqual([]);
  });

  test('peer messages are validated: malformed ones are refused, stray ones change nothing', () => {
    const call = new Call();
    const ana = call.join('Ana');
    call.join('Bo');
    const from = { id: 'Bo', name: 'Bo' };
    for (const bad of [
      { t: 'rec-ask' },
      { t: 'rec-ask', id: 'x' },
      { t: 'rec-ask', id: 'abcdefgh', name: 'Mallory' },
      { t: 'rec-answer', id: 'abcdefgh', allow: 'yes' },
      { t: 'rec-state', id: 'abcdefgh', state: 'exploded' },
      { t: 'rec-state', id: 'abcdefgh', state: 'stopped', declinedBy: 'x'.repeat(65) },
      'rec-ask',
      null,
    ]) {
      expect(ana.consent.receive(from, bad)).toBe(false);
    }
    expect(ana.asked).toEqual([]);
    // An answer to a request we never made, or with another id, starts nothing.
    expect(ana.consent.receive(from, { t: 'rec-answer', id: 'abcdefgh', allow: true })).toBe(true);
    ana.consent.request([from]);
    expect(ana.consent.receive(from, { t: 'rec-answer', id: 'zzzzzzzz', allow: true })).toBe(true);
    expect(
      ana.consent.receive({ id: 'Eve', name: 'Eve' }, { t: 'rec-answer', id: 'Ana-request-1', allow: true }),
    ).toBe(true);
    expect(ana.phases).toEqual([]);
    expect(ana.consent.own?.phase).toBe('asking');
  });

  test('a recording announced without asking is shown on the indicator anyway, by the link name', () => {
    const call = new Call();
    const ana = call.join('Ana');
    call.join('Bo');
    ana.consent.receive({ id: 'Bo', name: 'Bo' }, { t: 'rec-state', id: 'abcdefgh', state: 'recording' });
    expect(ana.recorders).toEqual(['Bo:recording']);
    expect(ana.asked).toEqual([]);
    ana.consent.receive({ id: 'Bo', name: 'Bo' }, { t: 'rec-state', id: 'abcdefgh', state: 'stopped' });
    expect(ana.recorders).toEqual([]);
    expect(ana.sentences).toEqual(['Bo stopped recording']);
  });
});
