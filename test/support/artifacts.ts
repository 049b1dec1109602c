/**
 * SGT artifacts shared by every test suite. test/global-setup.ts builds them once per run (and
 * only when missing or built by another builder version) under the git-ignored `.sgt-proxy/`.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDemoSgt, type BuildDemoOptions } from '../../src/sgt/index.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const TEST_ARTIFACTS_DIR = join(REPO_ROOT, '.sgt-proxy', 'test-artifacts');

/** The demo SGT with its default options (noise on): what `serve` uses with no SGP_SGT_PATH. */
export const DEMO_SGT_DIR = join(TEST_ARTIFACTS_DIR, 'demo');
/** Same seed, noise scale 0: the transform is the identity, so embeddings decode back to the prompt. */
export const IDENTITY_SGT_DIR = join(TEST_ARTIFACTS_DIR, 'identity');

export const DEMO_SGT_OPTIONS: BuildDemoOptions = { out: DEMO_SGT_DIR };
export const IDENTITY_SGT_OPTIONS: BuildDemoOptions = { out: IDENTITY_SGT_DIR, noiseScale: 0 };

/** Builds whichever test artifact is missing or stale; returns the directories it (re)built. */
export async function ensureTestArtifacts(onProgress?: (line: string) => void): Promise<string[]> {
  const built: string[] = [];
  for (const options of [DEMO_SGT_OPTIONS, IDENTITY_SGT_OPTIONS]) {
    const progress = onProgress === undefined ? undefined : (line: string) => onProgress(`[${options.out}] ${line}`);
    if ((await ensureDemoSgt({ ...options, ...(progress ? { onProgress: progress } : {}) })).built)
      built.push(options.out);
  }
  return built;
}
