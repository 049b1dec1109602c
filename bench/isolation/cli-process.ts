/** The CLI as a real process, for the benchmarks that measure the proxy as a deployment runs it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Compiled to dist/bench-isolation/bench/isolation/*.js.
export const ROOT = join(import.meta.dirname, '..', '..', '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export interface Started {
  child: ChildProcess;
  url: string;
}

const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((child) => child.kill('SIGKILL')));

/** Starts a CLI command and waits for its "listening" log line, which carries its URL. */
export function start(args: string[], env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      for (const line of buffered.split('\n')) {
        const match = /"url":"(http:\/\/[^"]+)".*listening/.exec(line);
        if (match?.[1]) return resolve({ child, url: match[1] });
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before listening`)));
  });
}

export async function stop(started: Started): Promise<void> {
  const exited = new Promise((resolve) => started.child.once('exit', resolve));
  started.child.kill('SIGTERM');
  await exited;
}

/** Starts a CLI command, runs `use` with it, and stops it however `use` ended. */
export async function withCli<T>(
  args: string[],
  env: Record<string, string>,
  use: (started: Started) => Promise<T>,
): Promise<T> {
  const started = await start(args, env);
  try {
    return await use(started);
  } finally {
    await stop(started);
  }
}

/** Writes a benchmark's result to bench/results/<name>.json. */
export function writeResult(name: string, result: unknown): void {
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}
