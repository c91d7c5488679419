import { constants } from 'node:fs';

/**
 * File-type bits of `st_mode` as bigints, for code that lstat()s with `{ bigint: true }` (the
 * layer tar and the copy-snapshot differ need nanosecond times and 64-bit inodes).
 */
export const S_IFMT = BigInt(constants.S_IFMT);
export const S_IFREG = BigInt(constants.S_IFREG);
export const S_IFDIR = BigInt(constants.S_IFDIR);
export const S_IFLNK = BigInt(constants.S_IFLNK);
export const S_IFCHR = BigInt(constants.S_IFCHR);
export const S_IFBLK = BigInt(constants.S_IFBLK);
export const S_IFIFO = BigInt(constants.S_IFIFO);
export const S_IFSOCK = BigInt(constants.S_IFSOCK);
