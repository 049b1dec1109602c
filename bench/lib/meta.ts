import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { ROOT } from './harness.js';
import type { Options } from './options.js';
import type { BenchMeta } from './report.js';

/** What every result file says about the run: the machine, the commit, the settings. */

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 5_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

export function machineMeta(options: Options, startedAt: string, durationS: number, notes: string[]): BenchMeta {
  const status = git(['status', '--porcelain']);
  return {
    mode: options.profile ? `${options.mode}, profiled (--cpu-prof: timings are inflated)` : options.mode,
    startedAt,
    durationS: Math.round(durationS),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? '?',
    memoryGiB: os.totalmem() / 1024 ** 3,
    loadAverageAtStart: os.loadavg(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    workingTreeDirty: status === null ? null : status.length > 0,
    pacing: { maxTokens: options.maxTokens, tokenIntervalMs: options.intervalMs },
    stepDurationS: options.stepMs / 1000,
    warmupS: options.warmupMs / 1000,
    ladder: options.ladder,
    openLoopRates: options.openRates,
    promptTokens: options.promptTokens,
    percentileMethod: 'linear interpolation between closest ranks (numpy default, type 7)',
    notes,
  };
}

export function fmtMib(bytesOrKib: number | undefined | null, unit: 'kib' | 'bytes' = 'kib'): string {
  if (bytesOrKib === undefined || bytesOrKib === null) return '—';
  return (unit === 'kib' ? bytesOrKib / 1024 : bytesOrKib / 1024 / 1024).toFixed(0);
}
