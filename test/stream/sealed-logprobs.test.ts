import { describe, expect, it } from 'vitest';
import { chatChunkMapper, completionToChatCompletion, type CompletionChunk } from '../../src/stream/index.js';

/** Pass-through logprobs: relayed in the order they were sealed, every candidate, bytes null. */

const chunk = (text: string, tokens: string[], top: Record<string, number>[], finish: string | null = null) =>
  ({
    id: 'u',
    created: 1,
    model: 'm',
    choices: [
      {
        index: 0,
        text,
        finish_reason: finish,
        logprobs: { tokens, token_logprobs: tokens.map(() => -1), top_logprobs: top },
      },
    ],
  }) satisfies CompletionChunk;

describe('sealed logprobs (pass-through, sealed: true)', () => {
  it('keep every top_logprobs key in JSON order (no sort, no cut) with bytes null', () => {
    const body = completionToChatCompletion(chunk('T', ['t'], [{ b: -3, a: -1, c: -2 }], 'stop'), {
      id: 'c',
      model: 'm',
      topLogprobs: 1,
      sealed: true,
    });
    expect(body.choices[0]!.logprobs!.content).toEqual([
      {
        token: 't',
        logprob: -1,
        bytes: null,
        top_logprobs: [
          { token: 'b', logprob: -3, bytes: null },
          { token: 'a', logprob: -1, bytes: null },
          { token: 'c', logprob: -2, bytes: null },
        ],
      },
    ]);
  });

  it('go out on the chat chunk of their own upstream chunk, even one without text', () => {
    const map = chatChunkMapper({ id: 'c', model: 'm', includeUsage: false, topLogprobs: 0, sealed: true });
    const out = [chunk('', ['x'], [{ x: -1 }]), chunk('Y', ['y'], [{ y: -1 }], 'stop')].flatMap(map);
    const seen = out.map((c) => [c.choices[0]!.delta.content, c.choices[0]!.logprobs?.content.map((t) => t.token)]);
    expect(seen).toEqual([
      ['', undefined], // the role chunk (logprobs: null)
      ['', ['x']],
      ['Y', ['y']],
    ]);
  });
});
