// Core's process state machine: one table of allowed transitions and a counter per state.
import type { ExecState } from '../../shared/processConfig.ts';

const TRANSITIONS: Record<ExecState, readonly ExecState[]> = {
  finished: ['starting'],
  starting: ['running', 'failed', 'finishing'],
  running: ['finished', 'finishing', 'failed', 'killed'],
  finishing: ['finished', 'failed', 'killed'],
  failed: ['starting'],
  killed: ['starting'],
};

export class ExecStates {
  #state: ExecState;
  #since = Date.now();
  readonly counts: Record<ExecState, number> = { finished: 0, starting: 0, running: 0, finishing: 0, failed: 0, killed: 0 };

  constructor(initial: ExecState = 'finished') {
    this.#state = initial;
  }

  get state(): ExecState {
    return this.#state;
  }

  /** Milliseconds since the last change. */
  get age(): number {
    return Date.now() - this.#since;
  }

  static allowed(from: ExecState, to: ExecState): boolean {
    return TRANSITIONS[from].includes(to);
  }

  /** Applies the transition; returns false (and changes nothing) when the table forbids it. */
  set(to: ExecState): boolean {
    if (!ExecStates.allowed(this.#state, to)) return false;
    this.#state = to;
    this.#since = Date.now();
    this.counts[to]++;
    return true;
  }
}
