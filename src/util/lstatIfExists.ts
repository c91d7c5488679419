/**
 * lstat and stat where a missing path is an answer, not an error. ENOENT, and ENOTDIR (a
 * component of the path is not a directory), mean nothing is there; anything else (EACCES,
 * ELOOP, EIO) is thrown, so a path that cannot be looked at is never taken for an absent one.
 */
import { statSync, type BigIntStats, type Stats } from 'node:fs';
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

/**
 * stat (symlinks followed), synchronously, for the few checks every build makes on its store
 * (µs each, where an async stat is a thread-pool round trip).
 */
export function statIfExistsSync(path: string): Stats | undefined;
export function statIfExistsSync(path: string, opts: { bigint: true }): BigIntStats | undefined;
export function statIfExistsSync(path: string, opts?: { bigint: true }): Stats | BigIntStats | undefined {
  try {
    return opts ? statSync(path, opts) : statSync(path);
  } catch (err) {
    if (isAbsence(err)) return undefined;
    throw err;
  }
}

function isAbsence(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function absentAsUndefined<T>(pending: Promise<T>): Promise<T | undefined> {
  try {
    return await pending;
  } catch (err) {
    if (isAbsence(err)) return undefined;
    throw err;
  }
}
