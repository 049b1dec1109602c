import type { CpuUse } from './cpu.js';
import type { Distribution } from './stats.js';
import { BURST_FRACTION, type StepSummary } from './summarize.js';

export type ScenarioName = 'direct' | 'floor' | 'proxy' | 'proxy-plain' | 'peer' | 'proxy-h4096';

export interface ScenarioResult {
  name: ScenarioName;
  /** What the client talks to, in words. */
  path: string;
  status: 'ran' | 'skipped' | 'failed';
  reason?: string;
  config?: Record<string, unknown>;
  steps: StepSummary[];
  sustainedConcurrency: number | null;
  /** The gateway process (none for direct): VmHWM at the end, VmRSS after the load (+ settle). */
  gatewayPeakRssMiB: number | null;
  gatewayRssAfterMiB: number | null;
  gatewayRssBeforeMiB: number | null;
}

export interface BenchMeta {
  mode: string;
  startedAt: string;
  durationS: number;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  loadAverageAtStart: number[];
  commit: string | null;
  workingTreeDirty: boolean | null;
  pacing: { maxTokens: number; tokenIntervalMs: number };
  stepDurationS: number;
  warmupS: number;
  ladder: number[];
  openLoopRates: number[];
  /** The prompt-length sweep (closed loop at concurrency 1): prompt lengths aimed at, in tokens. */
  promptTokens: number[];
  percentileMethod: string;
  notes: string[];
}

const fmt = (v: number | null | undefined, digits = 1): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
const signed = (v: number | null, digits = 1): string =>
  v === null || !Number.isFinite(v) ? '—' : `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;

function diff(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a - b;
}

function pad(text: string, width: number, left = false): string {
  return left ? text.padEnd(width) : text.padStart(width);
}

function table(header: string[], rows: string[][], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i]!, i < leftColumns)).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function stepLabel(step: StepSummary): string {
  const { shape } = step;
  if (shape.kind === 'open') return `${shape.ratePerSecond}/s`;
  if (shape.kind === 'prompt') return `${shape.concurrency}×${shape.measuredPromptTokens ?? shape.promptTokens}t`;
  return String(shape.concurrency);
}

/** The direct step with the same load, for the Δ columns. */
export function baselineFor(step: StepSummary, direct: readonly StepSummary[]): StepSummary | undefined {
  return direct.find(
    (d) =>
      d.shape.kind === step.shape.kind &&
      d.shape.concurrency === step.shape.concurrency &&
      d.shape.ratePerSecond === step.shape.ratePerSecond &&
      d.shape.promptTokens === step.shape.promptTokens,
  );
}

/**
 * Marks every step whose load direct itself did not sustain (no direct step at that load: null).
 * Going direct has nothing in the way but the load generator and the upstream, so a load it cannot
 * carry measures them; a gateway's numbers there are not the gateway's limit.
 */
export function markBound(scenarios: readonly ScenarioResult[]): void {
  const direct = scenarios.find((s) => s.name === 'direct')?.steps ?? [];
  for (const scenario of scenarios)
    for (const step of scenario.steps) {
      const base = baselineFor(step, direct);
      step.bound = base === undefined ? null : !base.sustained;
    }
}

export interface StepDeltas {
  ttftP50: number | null;
  ttftP99: number | null;
  itlP50: number | null;
  itlP99: number | null;
}

export function deltas(step: StepSummary, base: StepSummary | undefined): StepDeltas {
  const d = (f: (s: StepSummary) => number | null): number | null => (base ? diff(f(step), f(base)) : null);
  return {
    ttftP50: d((s) => s.ttft.p50),
    ttftP99: d((s) => s.ttft.p99),
    itlP50: d((s) => s.itl.p50),
    itlP99: d((s) => s.itl.p99),
  };
}

function ordered(scenarios: readonly ScenarioResult[]): StepSummary[] {
  const steps = scenarios.flatMap((s) => s.steps);
  const key = (s: StepSummary): number =>
    s.shape.kind === 'closed'
      ? (s.shape.concurrency ?? 0)
      : s.shape.kind === 'open'
        ? 1e6 + (s.shape.ratePerSecond ?? 0)
        : 2e6 + (s.shape.promptTokens ?? 0);
  const order = scenarios.map((s) => s.name as string);
  return steps.sort((a, b) => key(a) - key(b) || order.indexOf(a.scenario) - order.indexOf(b.scenario));
}

const p = (d: Distribution, digits = 1): string => `${fmt(d.p50, digits)} / ${fmt(d.p99, digits)}`;
const pct = (share: number | null | undefined): string =>
  share === null || share === undefined ? '—' : fmt(share * 100, 1);
const bound = (s: StepSummary): string => (s.bound === null ? '—' : s.bound ? 'gen/up' : 'no');

export function renderTables(meta: BenchMeta, scenarios: readonly ScenarioResult[]): string {
  const direct = scenarios.find((s) => s.name === 'direct')?.steps ?? [];
  const out: string[] = [];
  out.push(
    `sgt-proxy bench (${meta.mode}) — ${meta.startedAt}, Node ${meta.node}, ${meta.cpus} × ${meta.cpuModel}, ${meta.memoryGiB.toFixed(1)} GiB, commit ${meta.commit ?? '?'}${meta.workingTreeDirty ? ' (dirty)' : ''}, ` +
      `load average at start ${meta.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}`,
  );
  out.push(
    `upstream: reference server, paced: ${meta.pacing.maxTokens} tokens, ${meta.pacing.tokenIntervalMs} ms apart; closed loop, ${meta.stepDurationS} s per step after ${meta.warmupS} s warm-up; ` +
      `percentiles: ${meta.percentileMethod}; Δ = scenario − direct at the same load; times in ms`,
  );
  out.push('');
  const rows = ordered(scenarios).map((s) => {
    const dl = deltas(s, s.scenario === 'direct' ? undefined : baselineFor(s, direct));
    return [
      s.scenario,
      stepLabel(s),
      `${s.ok}/${s.requests}`,
      fmt(s.requestsPerSecond, 1),
      fmt(s.tokensPerSecond, 0),
      p(s.ttft),
      s.scenario === 'direct' ? '—' : `${signed(dl.ttftP50)} / ${signed(dl.ttftP99)}`,
      p(s.itl, 2),
      s.scenario === 'direct' ? '—' : `${signed(dl.itlP50, 2)} / ${signed(dl.itlP99, 2)}`,
      pct(s.gapProfile.burstShare),
      fmt(s.e2e.p50, 0),
      `${s.lostTokens}/${s.duplicatedTokens}`,
      String(s.stalls),
      fmt(s.errorRate * 100, 2),
      fmt(s.gatewayRssPeakMiB, 0),
      s.sustained ? 'yes' : 'NO',
      bound(s),
    ];
  });
  out.push(
    table(
      [
        'scenario',
        'load',
        'ok/req',
        'req/s',
        'tok/s',
        'TTFT p50 / p99',
        'ΔTTFT p50 / p99',
        'ITL p50 / p99',
        'ΔITL p50 / p99',
        'bursts %',
        'E2E p50',
        'lost/dup',
        'stalls',
        'err %',
        'RSS MiB',
        'ok?',
        'bound',
      ],
      rows,
    ),
  );
  out.push(
    'RSS MiB = highest sampled VmRSS of the gateway process during the step; ok? = the step was sustained (see below); lost/dup = tokens.',
  );
  out.push(
    `bursts % = share of inter-token gaps under ${fmt(BURST_FRACTION * meta.pacing.tokenIntervalMs, 2)} ms (${BURST_FRACTION} × the pacing): tokens held back and written together. ` +
      'An ITL p50 below the pacing with many bursts is a gateway behind the upstream, not a faster one.',
  );
  out.push(
    'bound = gen/up: direct itself did not sustain this load, so the step measures the load generator or the upstream, not the gateway; — = no direct step at this load. ' +
      'Loads written N×Tt are the prompt-length sweep: N clients, prompts of T tokens (as the gateway counted them).',
  );

  out.push('');
  out.push(renderCpuTable(ordered(scenarios)));

  const splitRows = ordered(scenarios)
    .filter((s) => s.split !== null)
    .map((s) => [
      s.scenario,
      stepLabel(s),
      `${s.split!.joined}`,
      p(s.split!.toUpstream, 2),
      p(s.split!.upstream, 2),
      p(s.split!.relay, 2),
    ]);
  if (splitRows.length > 0) {
    out.push('');
    out.push("TTFT split (p50 / p99, ms), joined with the upstream's access log by x-request-id:");
    out.push(
      '  to upstream = client sends → upstream receives (for sgt-proxy: validation, chat template, tokenizer, SGT transform, prompt_embeds encoding, upstream call)',
    );
    out.push(
      '  upstream    = upstream receives → sends its first token (the pacing interval + parsing the body);  relay = that token → client',
    );
    out.push(table(['scenario', 'load', 'joined', 'to upstream', 'upstream', 'relay'], splitRows));
  }

  out.push('');
  out.push(
    table(
      ['scenario', 'status', 'sustained conc.', 'peak RSS MiB', 'RSS before / after MiB'],
      scenarios.map((s) => [
        s.name,
        s.status,
        s.status === 'ran' ? (s.sustainedConcurrency === null ? 'none' : String(s.sustainedConcurrency)) : '—',
        fmt(s.gatewayPeakRssMiB, 0),
        s.gatewayRssAfterMiB === null ? '—' : `${fmt(s.gatewayRssBeforeMiB, 0)} / ${fmt(s.gatewayRssAfterMiB, 0)}`,
      ]),
      2,
    ),
  );
  for (const s of scenarios) {
    out.push(`  ${s.name}: ${s.path}${s.status === 'ran' ? '' : `\n    ${s.status}: ${s.reason ?? ''}`}`);
  }
  out.push(
    'sustained = highest concurrency with every lower step also passing: no lost or duplicated token, no gap > 10× the pacing, < 0.1 % errors.',
  );
  out.push(
    'peak RSS = VmHWM of the gateway process at the end of the run (start-up included); RSS before = after start-up and warm-up, after = once the load ended.',
  );

  const failures = ordered(scenarios).filter((s) => s.errorSamples.length > 0);
  if (failures.length > 0) {
    out.push('');
    out.push('errors (most frequent per step):');
    for (const s of failures) {
      for (const e of s.errorSamples) out.push(`  ${s.scenario} @ ${stepLabel(s)}: ${e.count} × ${e.message}`);
    }
  }
  for (const note of meta.notes) out.push(`note: ${note}`);
  return out.join('\n');
}

const cpuCell = (use: CpuUse | null | undefined): string =>
  use === null || use === undefined ? '—' : `${fmt(use.perThousandTokens, 3)} (${fmt(use.coreShare * 100, 0)}%)`;

const lagCell = (lag: { p50: number; p99: number; max: number } | null | undefined): string =>
  lag ? `${fmt(lag.p50)} / ${fmt(lag.p99)} / ${fmt(lag.max)}` : '—';

function renderCpuTable(steps: readonly StepSummary[]): string {
  const rows = steps.map((s) => [
    s.scenario,
    stepLabel(s),
    cpuCell(s.cpu?.gateway),
    cpuCell(s.cpu?.gatewayMainThread),
    lagCell(s.cpu?.gatewayLoopLagMs),
    cpuCell(s.cpu?.upstream),
    cpuCell(s.cpu?.generator),
    lagCell(s.cpu?.generatorLoopLagMs),
    bound(s),
  ]);
  return [
    'CPU per step: CPU seconds per 1,000 tokens the clients received (and % of one core over the step), from /proc/<pid>/stat utime+stime of each process and its descendants;',
    "  of it main thread = the gateway's main thread alone (/proc/<pid>/task/<pid>/stat), the event loop that relays every stream; the rest is its worker threads and V8's own;",
    "  gateway loop lag = that event loop's delay over the step (perf_hooks, read by the bench's probe preloaded in the gateway): work that blocks the relay shows here;",
    '  generator = this process (the load generator), with its event-loop delay (perf_hooks) — a generator that cannot keep up shows here first.',
    table(
      [
        'scenario',
        'load',
        'gateway s/1k tok',
        'of it main thread',
        'gateway loop lag p50 / p99 / max ms',
        'upstream s/1k tok',
        'generator s/1k tok',
        'generator loop lag p50 / p99 / max ms',
        'bound',
      ],
      rows,
    ),
  ].join('\n');
}
