import { parseArgs } from 'node:util';
import type { ScenarioName } from './report.js';

/** The command line of bench/run.ts, parsed once into Options (the presets of each mode below). */

export type Mode = 'quick' | 'full' | 'soak';

export const ALL_SCENARIOS: readonly ScenarioName[] = [
  'direct',
  'floor',
  'proxy',
  'proxy-plain',
  'peer',
  'proxy-h4096',
];

export interface Options {
  mode: Mode;
  profile: boolean;
  scenarios: ScenarioName[];
  ladder: number[];
  stepMs: number;
  warmupMs: number;
  maxTokens: number;
  intervalMs: number;
  openRates: number[];
  /** The prompt-length sweep (concurrency 1): prompt lengths in tokens; empty skips it (and proxy-h4096). */
  promptTokens: number[];
  soakMinutes: number;
  soakConcurrency: number;
  soakScenario: ScenarioName | undefined;
  /** The whole run stops starting steps after this (a safety bound; the report says so). */
  budgetMs: number;
  /** Some preset was overridden: results are written as bench-custom.*, and latest.svg is left alone. */
  custom: boolean;
}

type Preset = Pick<Options, 'ladder' | 'stepMs' | 'warmupMs' | 'openRates' | 'promptTokens' | 'budgetMs'>;

export const PRESETS: Record<Mode, Preset> = {
  quick: { ladder: [1, 16, 64], stepMs: 6_000, warmupMs: 2_000, openRates: [], promptTokens: [], budgetMs: 150_000 },
  full: {
    // Up to where going direct itself gives out on two cores: the steps past it are marked bound.
    ladder: [1, 16, 64, 128, 256, 512, 1024],
    stepMs: 20_000,
    warmupMs: 5_000,
    openRates: [10, 40, 100, 200, 400],
    promptTokens: [128, 512, 2048],
    budgetMs: 60 * 60_000,
  },
  soak: { ladder: [], stepMs: 0, warmupMs: 5_000, openRates: [], promptTokens: [], budgetMs: 0 },
};

/** Options that change what a preset measures: with any of them the results are bench-custom.*. */
const CUSTOM = [
  'scenarios',
  'ladder',
  'step-seconds',
  'warmup-seconds',
  'tokens',
  'interval-ms',
  'open-rates',
  'prompt-tokens',
  'max-clients',
  'max-rate',
] as const;

const MAX_CONCURRENCY = 1024;

function numbers(text: string | undefined, name: string): number[] | undefined {
  if (text === undefined) return undefined;
  if (text.trim() === 'none') return [];
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !(v > 0) || !Number.isFinite(v)))
    throw new Error(`--${name} expects positive numbers separated by commas (or none), got "${text}"`);
  return values;
}

function positive(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`--${name} expects a positive number, got "${text}"`);
  return value;
}

function scenarioName(text: string, what: string): ScenarioName {
  const name = ALL_SCENARIOS.find((s) => s === text);
  if (name === undefined) throw new Error(`unknown ${what} "${text}" (known: ${ALL_SCENARIOS.join(', ')})`);
  return name;
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      mode: { type: 'string', default: 'quick' },
      profile: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      ladder: { type: 'string' },
      'step-seconds': { type: 'string' },
      'warmup-seconds': { type: 'string' },
      tokens: { type: 'string' },
      'interval-ms': { type: 'string' },
      'open-rates': { type: 'string' },
      'prompt-tokens': { type: 'string' },
      'max-clients': { type: 'string' },
      'max-rate': { type: 'string' },
      'soak-minutes': { type: 'string' },
      'soak-concurrency': { type: 'string' },
      'soak-scenario': { type: 'string' },
    },
  });
  const mode = values.mode as Mode; // checked on the next line
  if (!(mode in PRESETS)) throw new Error(`--mode expects quick, full or soak, got "${values.mode}"`);
  const preset = PRESETS[mode];
  const scenarios = values.scenarios?.split(',').map((s) => scenarioName(s.trim(), 'scenario')) ?? [...ALL_SCENARIOS];
  const soakScenario =
    values['soak-scenario'] === undefined ? undefined : scenarioName(values['soak-scenario'], '--soak-scenario');
  const maxClients = positive(values['max-clients'], 'max-clients', MAX_CONCURRENCY);
  const maxRate = positive(values['max-rate'], 'max-rate', Number.POSITIVE_INFINITY);
  const requested = numbers(values.ladder, 'ladder') ?? preset.ladder;
  if (requested.some((c) => !Number.isInteger(c) || c > MAX_CONCURRENCY))
    throw new Error(`--ladder expects integers up to ${MAX_CONCURRENCY}`);
  const ladder = requested.filter((c) => c <= maxClients);
  const promptTokens = numbers(values['prompt-tokens'], 'prompt-tokens') ?? preset.promptTokens;
  if (promptTokens.some((t) => !Number.isInteger(t) || t > 4000))
    throw new Error('--prompt-tokens expects integers up to 4000 (the demo SGT is built for 4096)');
  return {
    mode,
    profile: values.profile ?? false,
    // The direct baseline always runs: every Δ, and every bound mark, is measured against it in the same invocation.
    scenarios: ALL_SCENARIOS.filter((s) => s === 'direct' || scenarios.includes(s)),
    ladder: [...ladder].sort((a, b) => a - b),
    stepMs: positive(values['step-seconds'], 'step-seconds', preset.stepMs / 1000) * 1000,
    warmupMs: positive(values['warmup-seconds'], 'warmup-seconds', preset.warmupMs / 1000) * 1000,
    maxTokens: positive(values.tokens, 'tokens', 64),
    intervalMs: positive(values['interval-ms'], 'interval-ms', 20),
    openRates: (numbers(values['open-rates'], 'open-rates') ?? preset.openRates).filter((r) => r <= maxRate),
    promptTokens: [...promptTokens].sort((a, b) => a - b),
    soakMinutes: Math.min(positive(values['soak-minutes'], 'soak-minutes', 10), 60),
    soakConcurrency: Math.min(positive(values['soak-concurrency'], 'soak-concurrency', 64), MAX_CONCURRENCY),
    soakScenario,
    budgetMs: preset.budgetMs,
    custom: CUSTOM.some((k) => values[k] !== undefined),
  };
}
