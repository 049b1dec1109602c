/**
 * With worker threads, the tokenizer lives in them: the caller's thread loads none at start (its
 * ~50 MiB of heap would be spent on methods the proxy's requests never call there), and loads its
 * own only when an in-thread method is first called. The spies count this thread's loads; the
 * workers' own module instances are not affected by the mock.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as TokenizerModule from '../../src/sgt/tokenizer.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';

const loads = vi.hoisted(() => ({ async: 0, sync: 0 }));

vi.mock('../../src/sgt/tokenizer.js', async (importOriginal) => {
  const real = await importOriginal<typeof TokenizerModule>();
  return {
    ...real,
    loadSgtTokenizer: (...args: Parameters<typeof real.loadSgtTokenizer>) => {
      loads.async += 1;
      return real.loadSgtTokenizer(...args);
    },
    loadSgtTokenizerSync: (...args: Parameters<typeof real.loadSgtTokenizerSync>) => {
      loads.sync += 1;
      return real.loadSgtTokenizerSync(...args);
    },
  };
});

let offThread: Sgt;
beforeAll(async () => {
  offThread = await loadSgt(DEMO_SGT_DIR, { workers: 1 });
});
afterAll(() => offThread.close());

const CHAT = [{ role: 'user' as const, content: 'Bonjour, ça va ?' }];

describe("the caller's thread tokenizer of an SGT with workers", () => {
  it('is not loaded at start, nor by the off-thread path the proxy takes', async () => {
    const ids = await offThread.tokenizeChatOffThread(CHAT);
    const [text] = await offThread.decodeOffThread([ids]);
    expect(text).toContain('Bonjour, ça va ?');
    expect(loads).toEqual({ async: 0, sync: 0 });
  });

  it('is loaded once, on the first in-thread call, and agrees with the workers', async () => {
    const ids = await offThread.tokenizeChatOffThread(CHAT);
    expect(offThread.tokenizeChat(CHAT)).toEqual(ids);
    expect(offThread.decode(ids)).toBe((await offThread.decodeOffThread([ids]))[0]);
    expect(await offThread.decodeOffThread(ids.map((id) => [id]))).toEqual(ids.map((id) => offThread.decode([id])));
    expect(loads).toEqual({ async: 0, sync: 1 });
  });
});

describe('an SGT without workers', () => {
  it('loads its tokenizer at start, as before', async () => {
    const here = await loadSgt(DEMO_SGT_DIR);
    try {
      expect(loads.async).toBe(1);
      expect(await here.decodeOffThread([here.tokenizeChat(CHAT)])).toEqual([here.decode(here.tokenizeChat(CHAT))]);
    } finally {
      await here.close();
    }
  });
});
