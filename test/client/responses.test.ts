import { describe, expect, it } from 'vitest';
import { responseEventRebuilder } from '../../src/client/responses.js';
import type { ResponseDecryptor } from '../../src/client/index.js';

/** The pass-through Response rebuilder on what it meets before any text: nothing here is decrypted. */
const neverDecrypts: ResponseDecryptor = {
  decryptChatChunk: () => {
    throw new Error('nothing to decrypt');
  },
  decryptChatCompletion: () => {
    throw new Error('nothing to decrypt');
  },
  decryptCompletion: () => {
    throw new Error('nothing to decrypt');
  },
  decryptedFields: 0,
};

describe('responseEventRebuilder', () => {
  it("passes on the proxy's error when it is the first event, with its code, message and param", () => {
    const rebuild = responseEventRebuilder({ parallelToolCalls: true }, neverDecrypts);
    const error = { type: 'upstream_error', code: 'upstream_truncated', message: 'cut short', param: null };
    const [event, ...rest] = rebuild.event({ ...error, type: 'error', sequence_number: 0, error });
    expect(rest).toHaveLength(0);
    expect(event).toMatchObject({
      type: 'error',
      code: 'upstream_truncated',
      message: 'cut short',
      sequence_number: 0,
    });
  });

  it('refuses a delta before response.created', () => {
    const rebuild = responseEventRebuilder({ parallelToolCalls: true }, neverDecrypts);
    expect(() => rebuild.event({ type: 'response.output_text.delta', delta: 'x' })).toThrow();
  });
});
