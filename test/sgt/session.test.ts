import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { sessionSettings } from '../../src/sgt/session.js';

describe('ONNX Runtime session settings', () => {
  it('default to every core up to 4 intra-op threads, worker thread or not (bench:loop-lag)', () => {
    expect(sessionSettings()).toEqual({ device: 'cpu', intraOpThreads: Math.min(4, availableParallelism()) });
  });

  it('take an explicit thread count, and refuse one that is not a positive integer', () => {
    expect(sessionSettings('cpu', 1).intraOpThreads).toBe(1);
    expect(() => sessionSettings('cpu', 0)).toThrow(RangeError);
    expect(() => sessionSettings('cpu', 1.5)).toThrow(RangeError);
  });

  it('refuse a device other than cpu or cuda', () => {
    // @ts-expect-error: a device name from outside the type, as a config typo would bring
    expect(() => sessionSettings('tpu')).toThrow(/unknown device "tpu"/);
  });
});
