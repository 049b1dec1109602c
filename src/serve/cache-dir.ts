import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where generated state lives (demo SGT, noise secret): SGP_CACHE_DIR, else the XDG cache directory. */
export function cacheDirFor(configured: string | undefined, xdgCacheHome: string | undefined): string {
  return configured ?? join(xdgCacheHome ?? join(homedir(), '.cache'), 'sgt-proxy');
}
