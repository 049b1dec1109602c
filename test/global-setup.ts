/**
 * vitest globalSetup: compile src/ (worker threads load their entry from dist/, see
 * src/internal/worker-script.ts; tsc is incremental) and build the shared SGT test artifacts once,
 * before any suite runs.
 */
import { execFileSync } from 'node:child_process';
import { ensureTestArtifacts } from './support/artifacts.js';

export default async function setup(): Promise<void> {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
  const started = performance.now();
  const built = await ensureTestArtifacts();
  if (built.length > 0) {
    console.log(
      `[global-setup] built SGT test artifacts ${built.join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
}
