/**
 * A minimal, deterministic POSIX (ustar + pax) tar header encoder: only the fields a layer
 * needs, no atime/ctime, empty uname/gname, pax records only where ustar cannot hold a value.
 * The encoding itself is native/fsxTar.c, the one the layer tar's directory scans write most
 * entries with; this is its typed front for the entries built in JS.
 */
import { tarHeader } from '../util/fsx.js';

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeaderFields {
  /** Relative path without leading `./`; directories end with `/`. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  /** Sorted by name by the encoder. */
  xattrs?: ReadonlyArray<[string, Buffer]>;
}

export const BLOCK = 512;

const TYPEFLAG: Record<TarEntryType, number> = {
  file: 0x30,
  link: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

const NO_XATTRS: ReadonlyArray<[string, Buffer]> = [];

/**
 * The bytes of one entry's header: a pax extended header (path or link target over 100 bytes
 * or not ASCII, ids over 7 octal digits, size or mtime outside 11, xattrs as SCHILY.xattr.*,
 * records sorted by key), then the ustar header.
 */
export function encodeTarHeader(h: TarHeaderFields): Buffer {
  return tarHeader({
    path: h.path,
    typeflag: TYPEFLAG[h.type],
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: Math.trunc(h.mtime),
    linkpath: h.linkpath ?? '',
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    xattrs: h.xattrs ?? NO_XATTRS,
  });
}

/** Zero bytes needed after `size` bytes of data to reach a block boundary. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}
