import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { LOOPBACK_HOST } from './sse-request.js';

/**
 * The processes under test, each its own child (so its RSS is its own and the load generator does
 * not share its event loop). Every child is registered until it exits; Ctrl-C, an error or the end
 * of the run kills whatever is left, by pid, one by one.
 */

export interface ChildSpec {
  name: string;
  /** Arguments to `node` (script first). */
  nodeArgs: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stdout and stderr of the child go here. */
  outputFile: string;
  /** GET this (on loopback) until it answers 200. */
  readyUrl: string;
  readyTimeoutMs: number;
}

/** What bench/lib/heap-probe.ts answers: the child's memory right after a forced full GC. */
export interface HeapSample {
  /** V8 heap in use after the collection (live objects): what a leak of JS objects grows. */
  usedBytes: number;
  totalBytes: number;
  /** Memory of C++ objects tied to JS ones (Buffers, ArrayBuffers), after the collection. */
  externalBytes: number;
  arrayBuffersBytes: number;
  rssBytes: number;
  /** How long the forced collection paused the child's event loop. */
  gcMs: number;
  /** False when the child was started without --expose-gc (the numbers are then without a GC). */
  forced: boolean;
}

/** What bench/lib/heap-probe.ts answers on `loop`: the child's event-loop delay since the last ask, ms. */
export interface LoopLag {
  p50: number;
  p99: number;
  max: number;
  /** Timer periods observed (about one per 10 ms of the interval). */
  samples: number;
}

export interface MemorySample {
  /** Resident set size now (VmRSS), KiB. */
  rssKiB: number;
  /** Peak resident set size since the process started (VmHWM), KiB. */
  hwmKiB: number;
}

export class ChildStartError extends Error {
  constructor(
    readonly child: string,
    readonly reason: string,
    readonly output: string,
  ) {
    super(`${child}: ${reason}`);
  }
}

/** A reply of the probe, as it came over IPC. */
interface ProbeReply {
  bench?: unknown;
  sample?: HeapSample;
  lag?: LoopLag;
}

const live = new Set<ManagedChild>();

export class ManagedChild {
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done = false;
  private probeRequests = 0;
  private readonly probeWaiters = new Map<number, (reply: ProbeReply) => void>();

  constructor(
    readonly name: string,
    private readonly process: ChildProcess,
    readonly outputFile: string,
  ) {
    if (process.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = process.pid;
    this.exited = new Promise((resolve) => {
      process.once('exit', (code, signal) => {
        this.done = true;
        live.delete(this);
        resolve({ code, signal });
      });
    });
    process.on('message', (message: unknown) => this.onMessage(message));
    // The IPC channel must not keep the harness alive, nor (in the child, heap-probe.ts) the child.
    process.channel?.unref();
    live.add(this);
  }

  private onMessage(message: unknown): void {
    if (typeof message !== 'object' || message === null) return;
    const reply = message as ProbeReply & { id?: unknown }; // the id is checked here, the rest by the asker
    if (typeof reply.id !== 'number') return;
    this.probeWaiters.get(reply.id)?.(reply);
    this.probeWaiters.delete(reply.id);
  }

  /**
   * Asks the child's heap probe (bench/lib/heap-probe.ts, preloaded) for its memory after a forced
   * full GC; null when it does not answer within `timeoutMs` (no probe, busy, or gone).
   */
  async heap(timeoutMs = 5_000): Promise<HeapSample | null> {
    const reply = await this.ask('heap', timeoutMs);
    return reply?.bench === 'heap' && reply.sample !== undefined ? reply.sample : null;
  }

  /**
   * The child's event-loop delay since the last call (the probe starts a new interval each time);
   * null when it does not answer within `timeoutMs`.
   */
  async loopLag(timeoutMs = 5_000): Promise<LoopLag | null> {
    const reply = await this.ask('loop', timeoutMs);
    return reply?.bench === 'loop' && reply.lag !== undefined ? reply.lag : null;
  }

  private ask(bench: 'heap' | 'loop', timeoutMs: number): Promise<ProbeReply | null> {
    if (this.done || !this.process.connected) return Promise.resolve(null);
    const id = ++this.probeRequests;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.probeWaiters.delete(id);
        resolve(null);
      }, timeoutMs);
      this.probeWaiters.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.process.send({ bench, id }, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.probeWaiters.delete(id);
        resolve(null);
      });
    });
  }

  get running(): boolean {
    return !this.done;
  }

  /** VmRSS and VmHWM from /proc/<pid>/status; null once the process is gone. */
  memory(): MemorySample | null {
    if (this.done) return null;
    try {
      return parseStatus(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    } catch {
      return null;
    }
  }

  /** SIGTERM (the CLI closes its server and exits; `--cpu-prof` writes its profile), SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.done) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  killNow(): void {
    if (!this.done) this.process.kill('SIGKILL');
  }

  /** The last `bytes` of the child's output, for error messages. */
  outputTail(bytes = 2000): string {
    try {
      const size = statSync(this.outputFile).size;
      const text = readFileSync(this.outputFile, 'utf8');
      return size > bytes ? text.slice(-bytes) : text;
    } catch {
      return '';
    }
  }
}

export function parseStatus(status: string): MemorySample {
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) : 0;
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

export async function startChild(spec: ChildSpec): Promise<ManagedChild> {
  const out = openSync(spec.outputFile, 'w');
  let child: ManagedChild;
  try {
    // The fourth stdio is the IPC channel the heap probe answers on.
    const proc = spawn(process.execPath, spec.nodeArgs, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', out, out, 'ipc'],
    });
    child = new ManagedChild(spec.name, proc, spec.outputFile);
  } finally {
    closeSync(out);
  }
  const deadline = performance.now() + spec.readyTimeoutMs;
  while (performance.now() < deadline) {
    if (!child.running) {
      const { code, signal } = await child.exited;
      throw new ChildStartError(
        spec.name,
        `exited before it was ready (code ${code}, signal ${signal})`,
        child.outputTail(),
      );
    }
    if (await answers(spec.readyUrl)) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.killNow();
  throw new ChildStartError(
    spec.name,
    `not ready within ${spec.readyTimeoutMs} ms (${spec.readyUrl})`,
    child.outputTail(),
  );
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** A port free on loopback now (the OS picks it; the child binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK_HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...live].map((child) => child.stop(graceMs)));
}

let installed = false;

/** Children die with the harness: on Ctrl-C, SIGTERM, an uncaught error, or any exit. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  const killAll = (): void => {
    for (const child of live) child.killNow();
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping the child processes\n`);
      killAll();
      process.exit(130);
    });
  }
}

/** Samples every child's memory on a timer; keeps the series (for soak) and per-window peaks. */
export class MemorySampler {
  readonly series = new Map<string, Array<{ tMs: number; rssKiB: number; hwmKiB: number }>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly children: () => ManagedChild[],
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  sample(): void {
    const tMs = performance.now();
    for (const child of this.children()) {
      const memory = child.memory();
      if (memory === null) continue;
      let list = this.series.get(child.name);
      if (!list) this.series.set(child.name, (list = []));
      list.push({ tMs, ...memory });
    }
  }

  /** Highest sampled VmRSS of `name` in [fromMs, toMs], KiB. */
  peakRss(name: string, fromMs: number, toMs: number): number | null {
    let peak: number | null = null;
    for (const s of this.series.get(name) ?? []) {
      if (s.tMs >= fromMs && s.tMs <= toMs && (peak === null || s.rssKiB > peak)) peak = s.rssKiB;
    }
    return peak;
  }

  /** Forget samples (a long step ladder would otherwise keep them all); soak keeps them. */
  clear(): void {
    this.series.clear();
  }
}
