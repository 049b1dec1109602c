export interface SseParser {
  /** The next piece of the decoded stream, split anywhere (inside a line, between `\r` and `\n`). */
  push(text: string): void;
}

/**
 * An incremental reader of server-sent events (the WHATWG rules for lines and `data` fields): each
 * event's data, its `data` lines joined by `\n`, goes to `onData` once the blank line ending it
 * arrives. Comments (`: keep-alive`) and other fields are skipped; an event left unfinished when the
 * stream ends is dropped, as EventSource drops it.
 *
 * The playground page runs this same function in the browser (it embeds the function's source),
 * so it must stay self-contained: no imports, nothing from the module around it.
 */
export function createSseParser(onData: (data: string) => void, maxLineChars = 8 * 1024 * 1024): SseParser {
  let pending = '';
  let data: string[] = [];

  function line(text: string): void {
    if (text === '') {
      if (data.length > 0) onData(data.join('\n'));
      data = [];
      return;
    }
    const colon = text.indexOf(':');
    if (colon === 0) return;
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(text[colon + 1] === ' ' ? colon + 2 : colon + 1);
    if (field === 'data') data.push(value);
  }

  return {
    push(text) {
      pending += text;
      let start = 0;
      for (let i = 0; i < pending.length; i++) {
        const char = pending[i];
        if (char !== '\n' && char !== '\r') continue;
        // A `\r` last in the piece may be the first half of `\r\n`: decide when the next piece comes.
        if (char === '\r' && i === pending.length - 1) break;
        line(pending.slice(start, i));
        if (char === '\r' && pending[i + 1] === '\n') i++;
        start = i + 1;
      }
      pending = pending.slice(start);
      if (pending.length > maxLineChars) throw new Error(`an SSE line is longer than ${maxLineChars} characters`);
    },
  };
}
