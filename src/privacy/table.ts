/** The audit report as the text table `sgt audit` prints. */
import type { AuditReport } from './audit.js';

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;

export function formatAuditTable(report: AuditReport): string {
  const { artifact } = report;
  const header = ['attack', 'noise', 'N', 'content tokens recovered', 'secrets recovered', 'time', 'detail'];
  // The averaging rows share one pass up to the largest N: its time is shown once, on that row.
  const largest = Math.max(0, ...report.attacks.map((a) => a.repeats ?? 0));
  const rows = report.attacks.map((a) => [
    a.attack,
    a.noise,
    a.repeats === undefined ? '' : String(a.repeats),
    `${percent(a.recovery)} (${a.recovered}/${a.contentTokens})`,
    `${a.secretsRecovered}/${a.secrets}`,
    a.repeats === undefined || a.repeats === largest ? `${(a.ms / 1000).toFixed(1)} s` : '',
    Object.entries(a.detail ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  ]);
  for (const l of report.linkability) {
    rows.push([
      'linkability',
      l.noise,
      '',
      `same prompt linked ${percent(l.samePrompt)}`,
      `shared system prompt linked ${percent(l.sharedPrefix)}`,
      `${(l.ms / 1000).toFixed(1)} s`,
      `different prompts linked ${percent(l.differentPrompts)} (threshold: the most similar different pair)`,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [
    `SGT ${artifact.dir} (${artifact.baseModel}, H ${artifact.hidden}, V ${artifact.vocab}): ${report.prompts} prompts, ${report.contentTokens} content tokens, ${report.secrets} secrets; ${(report.ms / 1000).toFixed(1)} s`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ].join('\n');
}
