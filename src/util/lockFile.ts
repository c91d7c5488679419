import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
 *
 * The lock file's own calls are synchronous: each is a few µs of syscall, while an async call
 * costs a thread-pool round trip, and every build takes a lock before its first step. Only the
 * wait between tries yields.
 */
export async function withLockFile<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const token = `${process.pid} ${randomBytes(8).toString('hex')}\n`;
  await acquire(lockPath, token, opts);
  try {
    return await fn();
  } finally {
    release(lockPath, token);
  }
}

async function acquire(lockPath: string, token: string, opts: LockOptions): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    opts.signal?.throwIfAborted();
    try {
      writeFileSync(lockPath, token, { flag: 'wx', mode: 0o644 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    breakIfStale(lockPath);
    if (Date.now() > deadline) {
      const holder = readText(lockPath) ?? '?';
      throw new TsbuildError('STORE_LOCKED', `locking ${lockPath}: held by pid ${holder.split(' ')[0]}`, {
        hint: 'another tsbuild process is using the store; wait for it or remove the lock file if that process is gone',
      });
    }
    await sleep(delay + Math.floor(Math.random() * delay), undefined, { signal: opts.signal });
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function breakIfStale(lockPath: string): void {
  const content = readText(lockPath);
  if (content === undefined) return;
  const pid = Number.parseInt(content.split(' ')[0] ?? '', 10);
  // An empty file is a lock being written right now; leave it.
  if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) return;
  // Move it aside first: if two processes find the same stale lock, only one rename wins, and a
  // fresh lock taken in between is put back instead of being deleted.
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(lockPath, aside);
  } catch {
    return;
  }
  const moved = readText(aside) ?? '';
  if (moved !== content) {
    try {
      linkSync(aside, lockPath);
    } catch {
      // lockPath was taken again meanwhile: that lock stands.
    }
  }
  rmSync(aside, { force: true });
}

function release(lockPath: string, token: string): void {
  if (readText(lockPath) === token) rmSync(lockPath, { force: true });
}
