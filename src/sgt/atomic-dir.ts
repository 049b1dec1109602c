/**
 * Writes a directory atomically: fill a temporary sibling, then rename it into place. A reader (or a
 * concurrent builder) sees either the old complete directory or the new complete one, never a half
 * artifact; an aborted build leaves only a `.tmp-*` sibling, removed on failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export async function writeDirectoryAtomically(
  target: string,
  fill: (tempDir: string) => Promise<void>,
): Promise<void> {
  const out = resolve(target);
  const parent = dirname(out);
  await mkdir(parent, { recursive: true });
  const temp = join(parent, `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(temp);
  try {
    await fill(temp);
    await swapInto(temp, out);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/**
 * rename(2) replaces an empty directory but not a full one, so an existing target is first moved
 * aside. Another builder may land its copy in between; then retry (theirs is equally complete).
 */
async function swapInto(temp: string, out: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(temp, out);
      return;
    } catch (error) {
      if (!isCode(error, 'ENOTEMPTY', 'EEXIST') || attempt >= 5) throw error;
    }
    const old = `${out}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await rename(out, old);
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error; // someone else moved it aside: just retry
      continue;
    }
    try {
      await rename(temp, out);
      return;
    } catch (error) {
      if (!isCode(error, 'ENOTEMPTY', 'EEXIST') || attempt >= 5) throw error;
    } finally {
      await rm(old, { recursive: true, force: true });
    }
  }
}

function isCode(error: unknown, ...codes: string[]): boolean {
  return typeof error === 'object' && error !== null && codes.includes((error as NodeJS.ErrnoException).code ?? '');
}
