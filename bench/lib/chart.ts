import type { BenchMeta, ScenarioResult } from './report.js';
import { colors } from './scenarios.js';
import type { StepSummary } from './summarize.js';
import { renderChart, type Panel, type Series } from './svg.js';

/**
 * The ladder's chart (bench/results/latest.svg): latency, bursts and gateway CPU against the
 * concurrency ladder, with the loads direct itself did not sustain shaded, and TTFT against the
 * prompt length when the sweep ran. The inter-token p50 is not plotted: behind a saturated gateway
 * it falls under the pacing (tokens written in bursts), so the burst share is plotted instead.
 */
export function ladderChart(meta: BenchMeta, results: readonly ScenarioResult[]): string {
  const ran = results.filter((r) => r.steps.length > 0);
  const series =
    (kind: StepSummary['shape']['kind'], x: (s: StepSummary) => number | undefined) =>
    (metric: (s: StepSummary) => number | null | undefined): Series[] =>
      ran
        .map((r) => ({
          name: r.name,
          points: r.steps.filter((s) => s.shape.kind === kind).map((s) => [x(s) ?? 0, metric(s) ?? null] as const),
        }))
        .filter((s) => s.points.length > 0);
  const byConcurrency = series('closed', (s) => s.shape.concurrency);
  const byPrompt = series('prompt', (s) => s.shape.promptTokens);
  const direct = results.find((r) => r.name === 'direct')?.steps ?? [];
  const shade = direct.filter((s) => s.shape.kind === 'closed' && !s.sustained).map((s) => s.shape.concurrency ?? 0);
  const bound = { shade };
  const skippedNames = results
    .filter((r) => r.status !== 'ran')
    .map(
      (r) =>
        `${r.name}: ${r.status}${r.status === 'skipped' && r.name === 'proxy' ? ' (no output protection yet)' : ''}`,
    );
  const panels: Panel[] = [];
  if (meta.ladder.length > 0)
    panels.push(
      { title: 'TTFT p50', yLabel: 'ms', series: byConcurrency((s) => s.ttft.p50), ...bound },
      { title: 'TTFT p99', yLabel: 'ms', series: byConcurrency((s) => s.ttft.p99), ...bound },
      { title: 'inter-token latency p99', yLabel: 'ms', series: byConcurrency((s) => s.itl.p99), ...bound },
      {
        title: `bursts: share of inter-token gaps < ${(meta.pacing.tokenIntervalMs * 0.05).toFixed(0)} ms`,
        yLabel: '%',
        series: byConcurrency((s) => (s.gapProfile.burstShare === null ? null : s.gapProfile.burstShare * 100)),
        ...bound,
      },
      {
        title: 'gateway CPU per 1,000 relayed tokens',
        yLabel: 'CPU s',
        series: byConcurrency((s) => s.cpu?.gateway?.perThousandTokens).filter((s) => s.name !== 'direct'),
        ...bound,
      },
    );
  const promptSeries = byPrompt((s) => s.ttft.p50);
  if (promptSeries.length > 0)
    panels.push({
      title: 'TTFT p50 against prompt length (1 client)',
      yLabel: 'ms',
      series: promptSeries,
      x: { label: 'prompt tokens (log scale)', ticks: meta.promptTokens },
    });
  return renderChart({
    title: `sgt-proxy bench (${meta.mode}): latency vs concurrency, side by side`,
    subtitle:
      `${meta.startedAt.slice(0, 10)} · ${meta.cpus} × ${meta.cpuModel} · Node ${meta.node} · paced upstream ${meta.pacing.maxTokens} tokens / ${meta.pacing.tokenIntervalMs} ms · ` +
      `${meta.stepDurationS} s per step${skippedNames.length ? ` · ${skippedNames.join(', ')}` : ''}`,
    xLabel: 'concurrent streaming clients (closed loop, log scale)',
    xTicks: meta.ladder,
    colors: colors(),
    shadeLabel: 'grey: direct did not sustain it (generator/upstream bound)',
    panels,
  });
}
