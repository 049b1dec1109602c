import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, type ManagedChild } from './processes.js';

/** Where everything the harness starts and writes lives, and how it starts a child. */

/** The repository root: the nearest folder up from this file with sgt-proxy's package.json. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sgt-proxy')
      return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench: cannot find the sgt-proxy repository root');
    dir = parent;
  }
}

/** dist/bench: this file is dist/bench/lib/harness.js once compiled. */
const BENCH_DIST = dirname(dirname(fileURLToPath(import.meta.url)));

export const ROOT = findRoot();
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const FLOOR_RELAY = join(BENCH_DIST, 'floor', 'relay.js');
export const PEER_SHIM = join(BENCH_DIST, 'peer', 'loopback-shim.js');
const HEAP_PROBE = join(BENCH_DIST, 'lib', 'heap-probe.js');
export const PEER_ENTRY = join(ROOT, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
export const RESULTS = join(ROOT, 'bench', 'results');
export const LOGS = join(RESULTS, 'logs');
export const PROFILES = join(RESULTS, 'profiles');
/** The demo SGT the children build on first use (SGP_CACHE_DIR). */
const CACHE = join(ROOT, '.sgt-proxy', 'bench-cache');
/** Larger artifacts, shared with bench:sgt (bench/sgt/run.ts builds the same H 4096 × V 32 000 there). */
export const ARTIFACTS = join(ROOT, '.sgt-proxy', 'bench-artifacts');

export const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

/** The children's environment: this one without any SGP_* setting of the user's, plus the bench's. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SGP_') && !k.startsWith('SG_') && !k.startsWith('NODE_OPTIONS')) env[k] = v;
  return {
    ...env,
    SGP_CACHE_DIR: CACHE,
    // Fixed, so no secret file is written; the bench's transform noise is not a secret.
    SGP_NOISE_SECRET: 'sgt-proxy-bench-noise-secret',
    ...extra,
  };
}

/** Each child logs JSON lines (info) to its own file: the upstream's are joined with client timings. */
export function loggingConfig(name: string): { file: string; requests: string } {
  const requests = join(LOGS, `${name}.requests.log`);
  const file = join(LOGS, `${name}.logging.yaml`);
  writeFileSync(file, `level: info\ndestination: ${JSON.stringify(requests)}\n`);
  rmSync(requests, { force: true });
  return { file, requests };
}

/**
 * Starts one child with the heap probe preloaded (`--expose-gc`, bench/lib/heap-probe.ts: the soak
 * reads each child's heap after a forced GC over IPC; unused, it costs nothing) and waits until
 * `readyUrl` answers.
 */
export async function startChildLogged(
  name: string,
  spec: { nodeArgs: string[]; env: NodeJS.ProcessEnv; readyUrl: string },
): Promise<ManagedChild> {
  const started = performance.now();
  const child = await startChild({
    name,
    cwd: ROOT,
    outputFile: join(LOGS, `${name}.out.log`),
    readyTimeoutMs: 120_000,
    ...spec,
    nodeArgs: ['--expose-gc', '--import', HEAP_PROBE, ...spec.nodeArgs],
  });
  log(`${name} ready (pid ${child.pid}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return child;
}
