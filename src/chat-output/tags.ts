/**
 * How long a suffix of `text` is also a proper prefix of one of `tags`: those characters may be
 * the start of a tag the next delta completes, so a streaming parser holds them back.
 */
export function partialTagLength(text: string, tags: readonly string[]): number {
  let longest = 0;
  for (const tag of tags) {
    for (let length = Math.min(tag.length - 1, text.length); length > longest; length -= 1) {
      if (text.endsWith(tag.slice(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

/** Where a search for a tag of `tagLength` may resume after `scanned` characters were searched. */
export function resumeAt(scanned: number, tagLength: number): number {
  return Math.max(0, scanned - tagLength + 1);
}
