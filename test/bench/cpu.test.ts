import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  cpuUse,
  parseMachineBusy,
  parseProcStat,
  mainThreadCpuSeconds,
  processCpuSeconds,
  readTreeCpu,
  treeCpuSeconds,
  USER_HZ,
} from '../../bench/lib/cpu.js';

/** A /proc/<pid>/stat line: pid (comm) state ppid … utime (14) stime (15) … */
function stat(pid: number, comm: string, ppid: number, utime: number, stime: number): string {
  const after = ['S', ppid, pid, pid, 0, -1, 4194560, 100, 0, 0, 0, utime, stime, 0, 0, 20, 0, 11, 0, 959027];
  return `${pid} (${comm}) ${after.join(' ')}\n`;
}

describe('/proc/<pid>/stat arithmetic', () => {
  it('utime + stime in seconds (USER_HZ 100) and the parent pid', () => {
    expect(parseProcStat(stat(42, 'node', 1, 250, 50))).toEqual({ ppid: 1, cpuSeconds: 3 });
  });

  it('a command name with spaces and parentheses does not shift the fields', () => {
    expect(parseProcStat(stat(7, 'my (odd) name) x', 3, 120, 30))).toEqual({ ppid: 3, cpuSeconds: 1.5 });
  });

  it('a line that is not a stat line: null', () => {
    expect(parseProcStat('')).toBeNull();
    expect(parseProcStat('12 (node) S 1 2')).toBeNull();
    expect(parseProcStat(stat(1, 'x', 0, Number.NaN, 1))).toBeNull();
  });

  it('a process tree: the root and every descendant, nothing else; a gone root is null', () => {
    const snapshot = new Map([
      [10, stat(10, 'gateway', 1, 100, 0)],
      [11, stat(11, 'worker', 10, 50, 0)],
      [12, stat(12, 'grandchild', 11, 25, 0)],
      [20, stat(20, 'unrelated', 1, 1000, 0)],
      [21, 'garbage'],
    ]);
    expect(treeCpuSeconds(snapshot, 10)).toBeCloseTo(1.75, 10);
    expect(treeCpuSeconds(snapshot, 11)).toBeCloseTo(0.75, 10);
    expect(treeCpuSeconds(snapshot, 99)).toBeNull();
  });

  it('a ppid cycle (pid reuse in a racy snapshot) terminates', () => {
    const snapshot = new Map([
      [1, stat(1, 'a', 2, 100, 0)],
      [2, stat(2, 'b', 1, 100, 0)],
    ]);
    expect(treeCpuSeconds(snapshot, 1)).toBe(2);
  });

  it('/proc/stat: busy = user + nice + system + irq + softirq + steal', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    expect(parseMachineBusy('cpu  100 10 50 9000 30 1 2 3 0 0\ncpu0 1 2 3\n')).toBeCloseTo(1.66, 10);
    expect(parseMachineBusy('intr 1 2 3')).toBeNull();
  });

  it('this process, read live, has used some CPU; a pid that does not exist has none', () => {
    expect(processCpuSeconds(process.pid)).toBeGreaterThan(0);
    const tree = readTreeCpu([process.pid, 2 ** 30]);
    expect(tree.get(process.pid)).toBeGreaterThanOrEqual(processCpuSeconds(process.pid)! - 0.05);
    expect(tree.get(2 ** 30)).toBeNull();
  });

  it("a worker thread's CPU counts for the process, not for its main thread", async () => {
    const main0 = mainThreadCpuSeconds(process.pid)!;
    const all0 = processCpuSeconds(process.pid)!;
    // The worker spins until its own thread has used 400 ms of CPU (not 400 ms of wall time, which a
    // busy machine may give it only part of) while this thread waits on its exit event.
    const spin = `
      const { readFileSync } = require('node:fs');
      const used = () => {
        const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
        return (Number(fields[11]) + Number(fields[12])) / ${USER_HZ};
      };
      while (used() < 0.4);`;
    const worker = new Worker(spin, { eval: true });
    await once(worker, 'exit');
    const main = mainThreadCpuSeconds(process.pid)! - main0;
    const all = processCpuSeconds(process.pid)! - all0;
    expect(all - main).toBeGreaterThan(0.3);
    expect(mainThreadCpuSeconds(2 ** 30)).toBeNull();
  });
});

describe('CPU per 1,000 relayed tokens', () => {
  it('seconds between two readings over tokens / 1000, and the share of one core', () => {
    expect(cpuUse(12.5, 14, 3_000, 6_000)).toEqual({ seconds: 1.5, coreShare: 0.5, perThousandTokens: 0.25 });
  });

  it('a missing reading (the process was gone) gives nothing, not zero', () => {
    expect(cpuUse(null, 3, 1_000, 10)).toBeNull();
    expect(cpuUse(1, undefined, 1_000, 10)).toBeNull();
  });

  it('no tokens: no per-token figure; a counter that went backwards counts as 0', () => {
    expect(cpuUse(1, 2, 1_000, 0)).toEqual({ seconds: 1, coreShare: 1, perThousandTokens: null });
    expect(cpuUse(5, 4, 1_000, 10)).toEqual({ seconds: 0, coreShare: 0, perThousandTokens: 0 });
  });
});
