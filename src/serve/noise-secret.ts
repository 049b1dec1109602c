import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface NoiseSecret {
  readonly secret: Uint8Array;
  /** Where it came from: the environment, or a file this machine generated (not shared with replicas). */
  readonly source: 'configured' | 'local-file';
}

/**
 * The key the noise is derived from (docs/privacy.md). Generated once and kept in the cache
 * directory, readable by this user only, so that prefix noise (and seeded requests) stay the same
 * across restarts of this process; replicas must be given one shared SGP_NOISE_SECRET instead.
 */
export function loadOrCreateNoiseSecret(configured: string | undefined, file: string): NoiseSecret {
  if (configured !== undefined) return { secret: new TextEncoder().encode(configured), source: 'configured' };
  return { secret: localSecret(file), source: 'local-file' };
}

/**
 * The file holds the secret as text and is read exactly as SGP_NOISE_SECRET is (its UTF-8 bytes),
 * so `SGP_NOISE_SECRET="$(cat noise-secret)"` on another replica derives the same noise.
 */
function localSecret(file: string): Uint8Array {
  try {
    return new TextEncoder().encode(readFileSync(file, 'utf8').trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32).toString('hex');
  mkdirSync(dirname(file), { recursive: true });
  // 'wx': when two processes start at once, the second fails instead of overwriting the first's key.
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return localSecret(file);
    throw err;
  }
  return new TextEncoder().encode(secret);
}
