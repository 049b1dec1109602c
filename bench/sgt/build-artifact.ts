/**
 * Builds (when missing or stale) one demo SGT artifact for the benchmark and measures it: build
 * time and peak RSS of this process (which does nothing else), file sizes, load time.
 * Run as a child process of run.ts so that the peak RSS is the build's alone. Prints one JSON line.
 *
 *   node dist/bench-sgt/bench/sgt/build-artifact.js --out DIR --hidden N [--vocab N]
 */
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDemoSgt, loadSgt } from '../../src/sgt/index.js';

export interface ArtifactStats {
  readonly dir: string;
  readonly hidden: number;
  readonly vocab: number;
  /** Whether this run built it (else the build numbers are from the run that did). */
  readonly builtNow: boolean;
  readonly buildSeconds: number;
  readonly buildPeakRssMiB: number;
  readonly files: Readonly<Record<string, number>>;
  readonly totalMiB: number;
  readonly loadSeconds: number;
  readonly rssAfterLoadMiB: number;
}

const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, hidden: { type: 'string' }, vocab: { type: 'string' } },
  });
  if (values.out === undefined || values.hidden === undefined)
    throw new Error('usage: build-artifact --out DIR --hidden N [--vocab N]');
  const out = values.out;
  const hidden = Number(values.hidden);
  const vocab = values.vocab === undefined ? undefined : Number(values.vocab);
  const statsFile = `${out}.build.json`;
  const started = performance.now();
  const { built } = await ensureDemoSgt({ out, hidden, ...(vocab === undefined ? {} : { vocab }) });
  let build: { buildSeconds: number; buildPeakRssMiB: number };
  if (built) {
    build = {
      buildSeconds: (performance.now() - started) / 1000,
      buildPeakRssMiB: mib(process.resourceUsage().maxRSS * 1024),
    };
    await writeFile(statsFile, JSON.stringify(build));
  } else {
    build = await readFile(statsFile, 'utf8').then(
      (text) => JSON.parse(text) as typeof build,
      () => ({ buildSeconds: Number.NaN, buildPeakRssMiB: Number.NaN }),
    );
  }
  const files: Record<string, number> = {};
  let total = 0;
  for (const name of (await readdir(out)).sort()) {
    const size = (await stat(join(out, name))).size;
    files[name] = mib(size);
    total += size;
  }
  const loadStarted = performance.now();
  const sgt = await loadSgt(out);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const stats: ArtifactStats = {
    dir: out,
    hidden,
    vocab: sgt.metadata.vocabSize,
    builtNow: built,
    buildSeconds: Math.round(build.buildSeconds * 100) / 100,
    buildPeakRssMiB: build.buildPeakRssMiB,
    files,
    totalMiB: mib(total),
    loadSeconds: Math.round(loadSeconds * 100) / 100,
    rssAfterLoadMiB: mib(process.memoryUsage().rss),
  };
  await sgt.close();
  process.stdout.write(`${JSON.stringify(stats)}\n`);
}

await main();
