import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { testPausePoint } from './testPause.js';

export interface AtomicWriteOptions {
  /**
   * false: no fsync before the rename, for files that are only ever a shortcut and read as
   * absent when damaged (cache entries and positions, the context stat cache, build records):
   * after a crash such a file may be lost or empty, never another file's content.
   */
  durable?: boolean;
}

/**
 * Writes `data` to `path` so readers see either the old file or the whole new one: exclusive
 * temp file next to the target (same filesystem, so rename is atomic), fsync (unless
 * `durable: false`), rename.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, signal?: AbortSignal, opts: AtomicWriteOptions = {}): Promise<void> {
  signal?.throwIfAborted();
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    try {
      await fh.writeFile(data);
      if (opts.durable !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    signal?.throwIfAborted();
    await testPausePoint('atomic-rename');
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
