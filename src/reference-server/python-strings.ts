/**
 * Python's view of strings, where vLLM's output depends on it: `len` counts code points, where
 * JavaScript's `length` counts UTF-16 units (a surrogate pair is one code point).
 */

export function pythonLen(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/** Where `text` ends without its last `n` code points. */
export function endWithoutLast(text: string, n: number): number {
  let end = text.length;
  for (let left = n; left > 0 && end > 0; left -= 1) {
    const low = text.charCodeAt(end - 1);
    const high = end >= 2 ? text.charCodeAt(end - 2) : 0;
    end -= low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff ? 2 : 1;
  }
  return end;
}
