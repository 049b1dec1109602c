import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/artifacts.js';

/**
 * `sgt-proxy serve` as its own process (node dist/cli/main.js): signals, exit codes and the drain
 * are the process's, not a server object's. Its JSON log lines on stdout are what the test waits on.
 */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** Every log line so far, parsed. */
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first line (past or future) matching `predicate`; rejects if the process exits first. */
  waitForLine(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Builds dist/ (incremental tsc: seconds when nothing changed), so the process runs the code under test. */
export async function buildDist(): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: REPO_ROOT,
    },
  );
}

/** The child's environment: the outer SGP_* / SG_* variables never leak into it. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^SGP?_/.test(name)));
  return { ...inherited, ...env };
}

export function startServe(env: Record<string, string>): ServeProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/cli/main.js'), 'serve'], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    predicate: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.predicate(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitForLine(predicate) {
      const seen = lines.find(predicate);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ predicate, resolve });
        void exited.then(({ code, signal }) =>
          reject(new Error(`serve exited (code ${code}, signal ${signal}) before the log line; stderr: ${stderr}`)),
        );
      });
    },
  };
}
