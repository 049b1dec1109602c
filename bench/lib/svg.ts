/**
 * A small hand-written SVG line chart: one panel per metric, one polyline per scenario, x on a
 * log₂ axis (the concurrency ladder doubles) or a linear one (time), y linear from 0. No chart library.
 */
export interface Series {
  name: string;
  /** Points with a null y are gaps (a scenario that did not run at that x). */
  points: ReadonlyArray<readonly [x: number, y: number | null]>;
}

export interface XAxis {
  label: string;
  /** The x values to tick (the ladder, the prompt lengths, minutes). */
  ticks: readonly number[];
  /** `log2` (default) for doubling ladders; `linear` for time. */
  scale?: 'log2' | 'linear';
}

export interface Panel {
  title: string;
  yLabel: string;
  series: readonly Series[];
  /** This panel's own x axis, when it differs from the chart's. */
  x?: XAxis;
  /** x values drawn on a grey band (e.g. the steps the load generator itself could not drive): see ChartSpec.shadeLabel. */
  shade?: readonly number[];
}

export interface ChartSpec {
  title: string;
  subtitle: string;
  xLabel: string;
  /** The x values to tick (the ladder). */
  xTicks: readonly number[];
  xScale?: 'log2' | 'linear';
  panels: readonly Panel[];
  colors?: Readonly<Record<string, string>>;
  /** What the grey bands mean: a legend entry, shown when some panel shades an x. */
  shadeLabel?: string;
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
  if (spec.shadeLabel && spec.panels.some((p) => (p.shade ?? []).length > 0)) {
    out.push(`<rect x="${lx}" y="56" width="22" height="12" fill="#ececec" stroke="#bbb"/>`);
    out.push(`<text x="${lx + 28}" y="66">${escapeXml(spec.shadeLabel)}</text>`);
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
  const axis: XAxis = panel.x ?? { label: spec.xLabel, ticks: spec.xTicks, scale: spec.xScale ?? 'log2' };
  const log = (axis.scale ?? 'log2') === 'log2';
  const xs = axis.ticks.filter((x) => (log ? x > 0 : Number.isFinite(x)));
  const f = log ? Math.log2 : (x: number): number => x;
  const lmin = f(Math.min(...xs));
  const lmax = f(Math.max(...xs));
  const xPos = (x: number): number => (lmax === lmin ? x0 + plotW / 2 : x0 + ((f(x) - lmin) / (lmax - lmin)) * plotW);
  const ys = panel.series
    .flatMap((s) => s.points.map(([, y]) => y))
    .filter((y): y is number => y !== null && Number.isFinite(y));
  const scale = niceScale(Math.max(0, ...ys));
  const yPos = (y: number): number => y0 + plotH - (Math.min(y, scale.max) / scale.max) * plotH;

  out.push(`<g>`);
  out.push(`<text x="${x0}" y="${oy + 22}" font-weight="bold">${escapeXml(panel.title)}</text>`);
  out.push(...shading(panel, xs, xPos, { y0, plotH }));
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
    out.push(`<text x="${px}" y="${y0 + plotH + 16}" text-anchor="middle" fill="#333">${formatTick(x)}</text>`);
  }
  out.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(
    `<text x="${x0 + plotW / 2}" y="${y0 + plotH + 36}" text-anchor="middle" fill="#333">${escapeXml(axis.label)}</text>`,
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
      if (y === null || !Number.isFinite(y) || (log && !(x > 0))) {
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

/** A grey band around each shaded tick, reaching half-way to its neighbours. */
function shading(
  panel: Panel,
  ticks: readonly number[],
  xPos: (x: number) => number,
  frame: { y0: number; plotH: number },
): string[] {
  const { y0, plotH } = frame;
  const shaded = new Set(panel.shade ?? []);
  const sorted = [...ticks].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const x = sorted[i]!;
    if (!shaded.has(x)) continue;
    const px = xPos(x);
    const prev = i > 0 ? (xPos(sorted[i - 1]!) + px) / 2 : px - 12;
    const next = i < sorted.length - 1 ? (xPos(sorted[i + 1]!) + px) / 2 : px + 12;
    out.push(
      `<rect x="${prev.toFixed(1)}" y="${y0}" width="${(next - prev).toFixed(1)}" height="${plotH}" fill="#ececec"/>`,
    );
  }
  return out;
}
