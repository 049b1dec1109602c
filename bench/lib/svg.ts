/**
 * A small hand-written SVG line chart: one panel per metric, one polyline per scenario, x on a
 * log₂ axis (the concurrency ladder doubles), y linear from 0. No chart library.
 */
export interface Series {
  name: string;
  /** Points with a null y are gaps (a scenario that did not run at that x). */
  points: ReadonlyArray<readonly [x: number, y: number | null]>;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: readonly Series[];
}

export interface ChartSpec {
  title: string;
  subtitle: string;
  xLabel: string;
  /** The x values to tick (the ladder). */
  xTicks: readonly number[];
  panels: readonly Panel[];
  colors?: Readonly<Record<string, string>>;
}

const PANEL_W = 460;
const PANEL_H = 280;
const MARGIN = { left: 64, right: 16, top: 34, bottom: 46 };
const COLUMNS = 2;
const HEADER_H = 78;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" upper bound and tick step for [0, max]: steps of 1, 2 or 5 × 10^k, about five ticks. */
export function niceScale(max: number): { max: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 0.2 };
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  return { max: Math.ceil(max / step) * step, step };
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(0);
  if (Math.abs(value) >= 1) return value.toFixed(1).replace(/\.0$/, '');
  return value.toPrecision(2);
}

export function renderChart(spec: ChartSpec): string {
  const names = [...new Set(spec.panels.flatMap((p) => p.series.map((s) => s.name)))];
  const color = (name: string): string => spec.colors?.[name] ?? PALETTE[names.indexOf(name) % PALETTE.length]!;
  const rows = Math.ceil(spec.panels.length / COLUMNS);
  const width = COLUMNS * PANEL_W;
  const height = HEADER_H + rows * PANEL_H;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="16" y="24" font-size="16" font-weight="bold">${escapeXml(spec.title)}</text>`);
  out.push(`<text x="16" y="44" fill="#555">${escapeXml(spec.subtitle)}</text>`);
  // Legend: one swatch per scenario.
  let lx = 16;
  for (const name of names) {
    out.push(`<line x1="${lx}" y1="62" x2="${lx + 22}" y2="62" stroke="${color(name)}" stroke-width="2.5"/>`);
    out.push(`<circle cx="${lx + 11}" cy="62" r="3" fill="${color(name)}"/>`);
    out.push(`<text x="${lx + 28}" y="66">${escapeXml(name)}</text>`);
    lx += 40 + name.length * 7.5;
  }
  spec.panels.forEach((panel, i) => {
    const ox = (i % COLUMNS) * PANEL_W;
    const oy = HEADER_H + Math.floor(i / COLUMNS) * PANEL_H;
    out.push(renderPanel(panel, spec, ox, oy, color));
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function renderPanel(panel: Panel, spec: ChartSpec, ox: number, oy: number, color: (name: string) => string): string {
  const out: string[] = [];
  const plotW = PANEL_W - MARGIN.left - MARGIN.right;
  const plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
  const x0 = ox + MARGIN.left;
  const y0 = oy + MARGIN.top;
  const xs = spec.xTicks.filter((x) => x > 0);
  const lmin = Math.log2(Math.min(...xs));
  const lmax = Math.log2(Math.max(...xs));
  const xPos = (x: number): number =>
    lmax === lmin ? x0 + plotW / 2 : x0 + ((Math.log2(x) - lmin) / (lmax - lmin)) * plotW;
  const ys = panel.series
    .flatMap((s) => s.points.map(([, y]) => y))
    .filter((y): y is number => y !== null && Number.isFinite(y));
  const scale = niceScale(Math.max(0, ...ys));
  const yPos = (y: number): number => y0 + plotH - (Math.min(y, scale.max) / scale.max) * plotH;

  out.push(`<g>`);
  out.push(`<text x="${x0}" y="${oy + 22}" font-weight="bold">${escapeXml(panel.title)}</text>`);
  for (let v = 0; v <= scale.max + scale.step / 2; v += scale.step) {
    const y = yPos(v).toFixed(1);
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + plotW}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(
      `<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#333">${formatTick(v)}</text>`,
    );
  }
  for (const x of xs) {
    const px = xPos(x).toFixed(1);
    out.push(`<line x1="${px}" y1="${y0}" x2="${px}" y2="${y0 + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px}" y="${y0 + plotH + 16}" text-anchor="middle" fill="#333">${x}</text>`);
  }
  out.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(
    `<text x="${x0 + plotW / 2}" y="${y0 + plotH + 36}" text-anchor="middle" fill="#333">${escapeXml(spec.xLabel)}</text>`,
  );
  const cy = y0 + plotH / 2;
  out.push(
    `<text x="${ox + 16}" y="${cy}" text-anchor="middle" fill="#333" transform="rotate(-90 ${ox + 16} ${cy})">${escapeXml(panel.yLabel)}</text>`,
  );
  for (const series of panel.series) {
    const c = color(series.name);
    // A null breaks the line; each run of consecutive points is its own polyline.
    let run: string[] = [];
    const flush = (): void => {
      if (run.length > 1) out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${run.join(' ')}"/>`);
      run = [];
    };
    for (const [x, y] of [...series.points].sort((a, b) => a[0] - b[0])) {
      if (y === null || !Number.isFinite(y) || !(x > 0)) {
        flush();
        continue;
      }
      const px = xPos(x).toFixed(1);
      const py = yPos(y).toFixed(1);
      run.push(`${px},${py}`);
      const clipped = y > scale.max ? ' (clipped)' : '';
      out.push(
        `<circle cx="${px}" cy="${py}" r="3" fill="${c}"><title>${escapeXml(`${series.name} @ ${x}: ${y.toFixed(2)}${clipped}`)}</title></circle>`,
      );
    }
    flush();
  }
  out.push(`</g>`);
  return out.join('\n');
}
