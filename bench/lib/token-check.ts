/**
 * Checks a paced stream's tokens. The reference server in paced mode emits exactly `max_tokens`
 * distinct tokens " tok0", " tok1", …; a gateway must relay every one once, in order. A token is a
 * non-empty content delta; its text names its index, so a lost, duplicated, reordered or merged
 * token is visible even when the count happens to match.
 */
const TOKEN = / tok(\d+)/g;

export interface TokenVerdict {
  /** Non-empty content deltas received (what the report calls tokens). */
  deltas: number;
  expected: number;
  /** Expected indices never seen. */
  lost: number;
  /** Indices seen more than once. */
  duplicated: number;
  /** Deltas whose index was not the next expected one (reordered or after a loss). */
  outOfOrder: number;
  /** Text of deltas that named no paced token, or an index past the expected count. */
  unexpected: number;
  /** Deltas carrying more than one paced token (merged by a gateway). */
  merged: number;
}

export class TokenTally {
  private readonly seen: Uint8Array;
  private next = 0;
  private deltas = 0;
  private duplicated = 0;
  private outOfOrder = 0;
  private unexpected = 0;
  private merged = 0;

  constructor(readonly expected: number) {
    this.seen = new Uint8Array(expected);
  }

  /** One non-empty content delta. */
  add(content: string): void {
    this.deltas += 1;
    let found = 0;
    // Fast path: the delta is exactly the next token.
    if (content === ` tok${this.next}` && this.next < this.expected) {
      this.mark(this.next);
      return;
    }
    for (const match of content.matchAll(TOKEN)) {
      found += 1;
      this.mark(Number(match[1]));
    }
    if (found === 0) this.unexpected += 1;
    if (found > 1) this.merged += 1;
  }

  private mark(index: number): void {
    if (!(index < this.expected)) {
      this.unexpected += 1;
      return;
    }
    if (this.seen[index] === 1) this.duplicated += 1;
    else this.seen[index] = 1;
    if (index !== this.next) this.outOfOrder += 1;
    this.next = index + 1;
  }

  verdict(): TokenVerdict {
    let present = 0;
    for (const s of this.seen) present += s;
    return {
      deltas: this.deltas,
      expected: this.expected,
      lost: this.expected - present,
      duplicated: this.duplicated,
      outOfOrder: this.outOfOrder,
      unexpected: this.unexpected,
      merged: this.merged,
    };
  }
}

/** Whether every token arrived exactly once, in order, one per delta. */
export function isExact(v: TokenVerdict): boolean {
  return (
    v.deltas === v.expected &&
    v.lost === 0 &&
    v.duplicated === 0 &&
    v.outOfOrder === 0 &&
    v.unexpected === 0 &&
    v.merged === 0
  );
}
