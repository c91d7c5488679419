/**
 * lstat and stat where a missing path is an answer, not an error. ENOENT, and ENOTDIR (a
 * component of the path is not a directory), mean nothing is there; anything else (EACCES,
 * ELOOP, EIO) is thrown, so a path that cannot be looked at is never taken for an absent one.
 */
import type { BigIntStats, Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';

export function lstatIfExists(path: string): Promise<Stats | undefined>;
export function lstatIfExists(path: string, opts: { bigint: true }): Promise<BigIntStats | undefined>;
export function lstatIfExists(path: string, opts?: { bigint: true }): Promise<Stats | BigIntStats | undefined> {
  return absentAsUndefined<Stats | BigIntStats>(opts ? lstat(path, opts) : lstat(path));
}

/** Whether something is at `path`, symlinks followed (a dangling link is nothing). */
export async function pathExists(path: string): Promise<boolean> {
  return (await absentAsUndefined(stat(path))) !== undefined;
}

async function absentAsUndefined<T>(pending: Promise<T>): Promise<T | undefined> {
  try {
    return await pending;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}
