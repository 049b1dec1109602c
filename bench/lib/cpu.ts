import { readFileSync, readdirSync } from 'node:fs';

/**
 * CPU time from /proc: per process (to charge each gateway its CPU per relayed token) and for the
 * whole machine (to tell how much went to processes outside the benchmark). Jiffies are 1/100 s on
 * Linux (USER_HZ, fixed by the kernel's ABI whatever its internal HZ).
 */
export const USER_HZ = 100;

interface StatFields {
  ppid: number;
  /** utime + stime, seconds: every thread of the process (worker threads included). */
  cpuSeconds: number;
}

/** The fields of one `/proc/<pid>/stat` line this bench reads; null when the line is not one. */
export function parseProcStat(stat: string, hz = USER_HZ): StatFields | null {
  // Field 2, the command name, is in parentheses and may itself contain spaces and ')': the fixed
  // fields start after the last ')'. After it: state (3), ppid (4), … utime (14), stime (15).
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (![ppid, utime, stime].every((v) => Number.isInteger(v) && v >= 0)) return null;
  return { ppid, cpuSeconds: (utime + stime) / hz };
}

/**
 * CPU seconds of `root` and every descendant process, from a snapshot of `/proc/<pid>/stat` texts:
 * a gateway that hands work to child processes is charged for them too (worker threads are already
 * in the process's own line). Null when `root` is not in the snapshot (it has exited).
 */
export function treeCpuSeconds(stats: ReadonlyMap<number, string>, root: number, hz = USER_HZ): number | null {
  const parsed = new Map<number, StatFields>();
  for (const [pid, text] of stats) {
    const fields = parseProcStat(text, hz);
    if (fields) parsed.set(pid, fields);
  }
  if (!parsed.has(root)) return null;
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of parsed) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  let total = 0;
  const seen = new Set<number>();
  const queue = [root];
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    if (seen.has(pid)) continue;
    seen.add(pid);
    total += parsed.get(pid)?.cpuSeconds ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return total;
}

/** Every process's stat line now (one pass over /proc; /proc/<pid>/task/*\/children is not on every kernel). */
export function procSnapshot(): Map<number, string> {
  const stats = new Map<number, string>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return stats;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      stats.set(Number(entry), readFileSync(`/proc/${entry}/stat`, 'utf8'));
    } catch {
      // Exited between the listing and the read.
    }
  }
  return stats;
}

/** CPU seconds of several process trees at one instant (null for one that is gone). */
export function readTreeCpu(pids: readonly number[]): Map<number, number | null> {
  const snapshot = procSnapshot();
  return new Map(pids.map((pid) => [pid, treeCpuSeconds(snapshot, pid)]));
}

/** User + system CPU seconds of one process (all its threads), null once it is gone. */
export function processCpuSeconds(pid: number): number | null {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * User + system CPU seconds of a process's main thread alone (its task whose id is the pid): for a
 * Node gateway, the event loop that relays every stream, apart from its worker threads and V8's
 * GC and compiler threads. Null once it is gone.
 */
export function mainThreadCpuSeconds(pid: number): number | null {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuSeconds(path: string): number | null {
  try {
    return parseProcStat(readFileSync(path, 'utf8'))?.cpuSeconds ?? null;
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine since boot (all but idle and iowait), from /proc/stat's first line. */
export function parseMachineBusy(procStat: string, hz = USER_HZ): number | null {
  const line = procStat.split('\n', 1)[0] ?? '';
  if (!line.startsWith('cpu ')) return null;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const busy = [0, 1, 2, 5, 6, 7].reduce((sum, i) => sum + (f[i] ?? 0), 0);
  return Number.isFinite(busy) ? busy / hz : null;
}

export function machineBusySeconds(): number | null {
  try {
    return parseMachineBusy(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/** One process's (or the generator's) CPU over a step. */
export interface CpuUse {
  seconds: number;
  /** seconds / wall seconds: 1 = one core busy for the whole step. */
  coreShare: number;
  /** CPU seconds per 1,000 tokens the clients received in the step; null when none arrived. */
  perThousandTokens: number | null;
}

/**
 * From two readings of a CPU counter around a step: null when either is missing (the process was
 * gone). A counter that went backwards (a descendant exited and took its time with it) counts as 0.
 */
export function cpuUse(
  before: number | null | undefined,
  after: number | null | undefined,
  wallMs: number,
  tokens: number,
): CpuUse | null {
  if (before === null || before === undefined || after === null || after === undefined) return null;
  const seconds = Math.max(0, after - before);
  return {
    seconds,
    coreShare: wallMs > 0 ? seconds / (wallMs / 1000) : 0,
    perThousandTokens: tokens > 0 ? (seconds * 1000) / tokens : null,
  };
}
