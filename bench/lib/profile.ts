import { readFileSync } from 'node:fs';

/**
 * Self time per function from a V8 `.cpuprofile` (`node --cpu-prof`): each sample's time delta is
 * charged to the node (function) on top of the stack when it was taken.
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  category: string;
  selfMs: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  functions: SelfTime[];
  categories: Array<{ category: string; selfMs: number }>;
}

/** Where a frame's code lives, by package or our own module: what an optimisation would touch. */
export function categoryOf(frame: CallFrame, root: string): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'program (native, outside JS)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/').slice(0, 2).join('/')}`;
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return `npm: ${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const local = path.startsWith(root) ? path.slice(root.length).replace(/^\//, '') : path;
  const parts = local.split('/');
  return parts[0] === 'dist' ? `sgt-proxy: ${parts[1] ?? ''}` : local;
}

export function summarizeProfile(file: string, root: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, SelfTime>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node || us <= 0) return;
    const ms = us / 1000;
    total += ms;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') {
      idle += ms;
      return;
    }
    const where = frame.url === '' ? '' : `${frame.url.replace(`file://${root}/`, '')}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    let entry = self.get(key);
    if (!entry)
      self.set(
        key,
        (entry = { name: frame.functionName || '(anonymous)', where, category: categoryOf(frame, root), selfMs: 0 }),
      );
    entry.selfMs += ms;
  });
  const functions = [...self.values()].sort((a, b) => b.selfMs - a.selfMs);
  const categories = new Map<string, number>();
  for (const f of functions) categories.set(f.category, (categories.get(f.category) ?? 0) + f.selfMs);
  return {
    totalMs: total,
    idleMs: idle,
    busyMs: total - idle,
    functions,
    categories: [...categories.entries()]
      .map(([category, selfMs]) => ({ category, selfMs }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function renderProfile(title: string, summary: ProfileSummary, top = 25): string {
  const pct = (ms: number): string => `${((ms / summary.busyMs) * 100).toFixed(1)}%`;
  const lines = [
    `${title}: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(summary.busyMs / 1000).toFixed(1)} s busy (${((summary.busyMs / summary.totalMs) * 100).toFixed(0)}%)`,
    '  self time by where the code lives (% of busy):',
    ...summary.categories
      .slice(0, 15)
      .map((c) => `    ${pct(c.selfMs).padStart(6)}  ${c.selfMs.toFixed(0).padStart(7)} ms  ${c.category}`),
    `  top ${top} functions by self time (% of busy):`,
    ...summary.functions
      .slice(0, top)
      .map((f) => `    ${pct(f.selfMs).padStart(6)}  ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`),
  ];
  return lines.join('\n');
}
