import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The key noise seeds are derived from (DESIGN §6). Generated once and kept in the cache
 * directory, readable by this user only, so that seeded requests stay reproducible across restarts.
 */
export function loadOrCreateNoiseSecret(configured: string | undefined, file: string): Uint8Array {
  if (configured !== undefined) return new TextEncoder().encode(configured);
  try {
    return new Uint8Array(Buffer.from(readFileSync(file, 'utf8').trim(), 'hex'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32);
  mkdirSync(dirname(file), { recursive: true });
  // 'wx': when two processes start at once, the second fails instead of overwriting the first's key.
  try {
    writeFileSync(file, secret.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateNoiseSecret(undefined, file);
    throw err;
  }
  return new Uint8Array(secret);
}
