/** vitest globalSetup: build the shared SGT test artifacts once, before any suite runs. */
import { ensureTestArtifacts } from './support/artifacts.js';

export default async function setup(): Promise<void> {
  const started = performance.now();
  const built = await ensureTestArtifacts();
  if (built.length > 0) {
    console.log(
      `[global-setup] built SGT test artifacts ${built.join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
}
