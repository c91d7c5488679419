import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { testPausePoint } from './testPause.js';

/**
 * Writes `data` to `path` so readers see either the old file or the whole new one: exclusive
 * temp file next to the target (same filesystem, so rename is atomic), fsync, rename.
 *
 * The file calls are synchronous: what goes through here is small metadata (cache entries and
 * positions, the context stat cache, tags), written on every build that changes anything, and
 * each async call would be a thread-pool round trip of its own (five per file) around a few µs of
 * syscall. The fsync waits for the disk either way.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    signal?.throwIfAborted();
    await testPausePoint('atomic-rename');
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
