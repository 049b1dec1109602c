import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logging/index.js';
import { DEMO_DEFAULTS, buildDemoSgt } from '../sgt/index.js';

/** The demo artifact, built on first use. Its directory name carries the builder defaults it was made with. */
export async function ensureDemoSgt(cacheDir: string, log: Logger): Promise<string> {
  const dir = join(cacheDir, `demo-sgt-h${DEMO_DEFAULTS.hidden}-s${DEMO_DEFAULTS.seed}`);
  if (existsSync(join(dir, 'sgt.json'))) return dir;
  log.info({ dir }, 'building the demo SGT (first run only)');
  await buildDemoSgt({ out: dir, onProgress: (line) => log.info(line) });
  return dir;
}

