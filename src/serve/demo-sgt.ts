import { join } from 'node:path';
import type { Logger } from '../logging/index.js';
import { ensureDemoSgt } from '../sgt/index.js';

/** The demo artifact in the cache directory, (re)built when missing or made by another builder version. */
export async function prepareDemoSgt(cacheDir: string, log: Logger): Promise<string> {
  const dir = join(cacheDir, 'demo-sgt');
  const { built } = await ensureDemoSgt({ out: dir, onProgress: (line) => log.info(`demo SGT: ${line}`) });
  if (built) log.info({ dir }, 'built the demo SGT (first run only)');
  return dir;
}
