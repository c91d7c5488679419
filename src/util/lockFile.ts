import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError } from '../errors.js';
import { pidAlive } from './pidAlive.js';

export interface LockOptions {
  /** Give up after this long (ms); default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Runs `fn` while holding an exclusive lock file (O_EXCL create, content = our pid). A lock
 * whose pid no longer exists is stale (its holder crashed) and is broken.
 */
export async function withLockFile<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const token = `${process.pid} ${randomBytes(8).toString('hex')}\n`;
  await acquire(lockPath, token, opts);
  try {
    return await fn();
  } finally {
    await release(lockPath, token);
  }
}

async function acquire(lockPath: string, token: string, opts: LockOptions): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    opts.signal?.throwIfAborted();
    try {
      const fh = await open(lockPath, 'wx', 0o644);
      try {
        await fh.writeFile(token);
      } finally {
        await fh.close();
      }
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await breakIfStale(lockPath);
    if (Date.now() > deadline) {
      const holder = await readFile(lockPath, 'utf8').catch(() => '?');
      throw new TsbuildError('STORE_LOCKED', `locking ${lockPath}: held by pid ${holder.split(' ')[0]}`, {
        hint: 'another tsbuild process is using the store; wait for it or remove the lock file if that process is gone',
      });
    }
    await sleep(delay + Math.floor(Math.random() * delay), undefined, { signal: opts.signal });
  }
}


async function breakIfStale(lockPath: string): Promise<void> {
  let content: string;
  try {
    content = await readFile(lockPath, 'utf8');
  } catch {
    return;
  }
  const pid = Number.parseInt(content.split(' ')[0] ?? '', 10);
  // An empty file is a lock being written right now; leave it.
  if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) return;
  // Move it aside first: if two processes find the same stale lock, only one rename wins, and a
  // fresh lock taken in between is put back instead of being deleted.
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== content) await link(aside, lockPath).catch(() => undefined);
  await rm(aside, { force: true });
}

async function release(lockPath: string, token: string): Promise<void> {
  const content = await readFile(lockPath, 'utf8').catch(() => '');
  if (content === token) await rm(lockPath, { force: true });
}
