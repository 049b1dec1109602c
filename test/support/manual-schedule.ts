import type { Schedule } from '../../src/upstream/index.js';

/** The pool's health-probe timer, fired by the test: a round runs when the test says, never on a clock. */
export class ManualSchedule {
  private due: { run: () => Promise<void>; ms: number } | undefined;

  readonly schedule: Schedule = (run, ms) => {
    const entry = { run, ms };
    this.due = entry;
    return {
      cancel: () => {
        if (this.due === entry) this.due = undefined;
      },
    };
  };

  /** The delay the pending round was scheduled with; undefined when none is pending. */
  get pendingMs(): number | undefined {
    return this.due?.ms;
  }

  /** Runs the pending round as if its time had come, and waits until every probe of it has answered. */
  async fire(): Promise<void> {
    const due = this.due;
    if (due === undefined) throw new Error('no health-probe round is scheduled');
    this.due = undefined;
    await due.run();
  }
}
