/**
 * The raw text of each top-level member value of a JSON object, as written. Tool-call arguments
 * are relayed exactly as the model wrote them: a `JSON.parse`/`JSON.stringify` round trip would
 * rewrite `1.0` as `1` and round integers beyond 2^53.
 *
 * Only for text that `JSON.parse` already accepted as an object: the scanner trusts the grammar.
 */
export function rawMembers(json: string): Map<string, string> {
  const members = new Map<string, string>();
  let at = skipSpace(json, json.indexOf('{') + 1);
  while (json[at] === '"') {
    const keyEnd = stringEnd(json, at);
    const key = JSON.parse(json.slice(at, keyEnd)) as string; // a JSON string literal: parses to a string
    const valueStart = skipSpace(json, skipSpace(json, keyEnd) + 1); // past the ':'
    const valueEnd = valueEndAt(json, valueStart);
    // Later duplicates win, as in JSON.parse.
    members.set(key, json.slice(valueStart, valueEnd));
    at = skipSpace(json, valueEnd);
    if (json[at] === ',') at = skipSpace(json, at + 1);
  }
  return members;
}

function skipSpace(text: string, at: number): number {
  while (at < text.length && (text[at] === ' ' || text[at] === '\t' || text[at] === '\n' || text[at] === '\r')) at += 1;
  return at;
}

/** Just past the closing quote of the string literal opening at `at`. */
function stringEnd(text: string, at: number): number {
  let i = at + 1;
  while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}

function valueEndAt(text: string, at: number): number {
  const first = text[at];
  if (first === '"') return stringEnd(text, at);
  if (first === '{' || first === '[') return containerEnd(text, at);
  // A number or a literal: up to the next delimiter.
  let i = at;
  while (i < text.length && !',}] \t\n\r'.includes(text[i] ?? '')) i += 1;
  return i;
}

function containerEnd(text: string, at: number): number {
  let depth = 0;
  let i = at;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      i = stringEnd(text, i);
      continue;
    }
    if (c === '{' || c === '[') depth += 1;
    else if (c === '}' || c === ']') {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
    i += 1;
  }
  return i;
}
