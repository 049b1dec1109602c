import { describe, expect, it } from 'vitest';
import { upstreamBody } from '../../src/proxy/upstream-call.js';

const embeds = new TextEncoder().encode('UEsDBAAAAAAIAA=='); // base64 text as ASCII bytes, as the transform hands it over
const text = (pieces: Uint8Array[]) => Buffer.concat(pieces).toString('utf8');

describe('the upstream completions body', () => {
  it('is JSON whose prompt_embeds is the transform’s bytes, spliced in without a copy', () => {
    const pieces = upstreamBody({ stream: true, temperature: 0.5, seed: null }, 'm', embeds, 16, { logprobs: 2 });
    expect(pieces).toContain(embeds);
    expect(JSON.parse(text(pieces))).toEqual({
      prompt_embeds: 'UEsDBAAAAAAIAA==',
      logprobs: 2,
      model: 'm',
      max_tokens: 16,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.5,
    });
  });

  it('takes prompt_embeds only from the transform, whatever the route’s fields say', () => {
    const body = JSON.parse(text(upstreamBody({}, 'm', embeds, 1, { prompt_embeds: 'other', model: 'x' })));
    expect(body).toEqual({ prompt_embeds: 'UEsDBAAAAAAIAA==', model: 'm', max_tokens: 1, stream: false });
  });

  it('escapes what the other members hold', () => {
    const body = JSON.parse(text(upstreamBody({ stop: ['"}\n', '\u2028'], user: 'é' }, 'm"', embeds, 1, {})));
    expect(body).toMatchObject({ stop: ['"}\n', '\u2028'], user: 'é', model: 'm"' });
  });
});
