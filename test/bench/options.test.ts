import { describe, expect, it } from 'vitest';
import { PRESETS, parseOptions } from '../../bench/lib/options.js';

describe('bench options', () => {
  it('full ladders to 1024 clients and 400 req/s, with the prompt-length sweep', () => {
    const o = parseOptions(['--mode', 'full']);
    expect(o.ladder).toEqual([1, 16, 64, 128, 256, 512, 1024]);
    expect(o.openRates).toEqual([10, 40, 100, 200, 400]);
    expect(o.promptTokens).toEqual([128, 512, 2048]);
    expect(o.scenarios).toEqual(['direct', 'floor', 'proxy', 'proxy-plain', 'peer', 'proxy-h4096']);
    expect(o.custom).toBe(false);
  });

  it('--max-clients and --max-rate shorten a preset: the results are then bench-custom', () => {
    const o = parseOptions(['--mode', 'full', '--max-clients', '64', '--max-rate', '40']);
    expect(o.ladder).toEqual([1, 16, 64]);
    expect(o.openRates).toEqual([10, 40]);
    expect(o.custom).toBe(true);
  });

  it('none turns a list off; direct always runs', () => {
    const o = parseOptions([
      '--mode',
      'full',
      '--open-rates',
      'none',
      '--prompt-tokens',
      'none',
      '--scenarios',
      'peer',
    ]);
    expect(o.openRates).toEqual([]);
    expect(o.promptTokens).toEqual([]);
    expect(o.scenarios).toEqual(['direct', 'peer']);
  });

  it('quick is unchanged: 1, 16, 64 clients for 6 s, no open loop, no sweep', () => {
    expect(PRESETS.quick).toMatchObject({ ladder: [1, 16, 64], stepMs: 6_000, openRates: [], promptTokens: [] });
  });

  it.each([
    [['--mode', 'fast'], /--mode expects quick, full or soak/],
    [['--scenarios', 'proxy,nope'], /unknown scenario "nope"/],
    [['--soak-scenario', 'nope'], /unknown --soak-scenario "nope"/],
    [['--ladder', '1,2048'], /--ladder expects integers up to 1024/],
    [['--ladder', '1,-4'], /--ladder expects positive numbers/],
    [['--max-clients', '0'], /--max-clients expects a positive number/],
    [['--prompt-tokens', '128,9000'], /--prompt-tokens expects integers up to 4000/],
    [['--step-seconds', 'x'], /--step-seconds expects a positive number/],
  ])('%j is refused, naming the option', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(message);
  });
});
