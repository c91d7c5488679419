import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { TsbuildError } from '../errors.js';

/** The raw shape of native/build/fsx.node (see native/fsx.c, fsxScan.c, fsxCopy.c, fsxTar.c, fsxGzip.c and fsxMount.c). */
interface FsxAddon {
  lgetxattrs(path: string): Promise<Array<[string, Buffer]>>;
  lgetxattrSync(path: string, name: string): Buffer | null;
  lsetxattr(path: string, name: string, value: Buffer): Promise<void>;
  mknod(path: string, mode: number, major: number, minor: number): Promise<void>;
  scanDir(dir: string, budget: number, inlineMax: number, flags: number, prefix?: string, epoch?: number): Promise<{ count: number; meta: Buffer; data: Buffer; tar: Buffer }>;
  tarHeader(path: string, typeflag: number, mode: number, uid: number, gid: number, size: number, mtime: number, linkpath: string, devmajor: number, devminor: number, xattrs: ReadonlyArray<readonly [string, Buffer]>): Buffer;
  readFiles(dir: string, names: string[], sizes: number[]): Promise<Buffer>;
  applyTreeOps(ops: NativeTreeOp[]): Promise<[number, number, number, NodeJS.ErrnoException | null]>;
  copyFiles(srcDir: string, dstDir: string, names: string[], modes: number[], uid: number, gid: number): Promise<number[]>;
  gzipMember(data: Buffer, level: number): Promise<Buffer>;
  mountOverlay(opts: { target: string; lowers: string[]; upper?: string; work?: string; userxattr: boolean; readonly: boolean }): void;
  unmount(target: string): void;
}

/** applyTreeOps' wire shape: `kind` 0 file, 1 directory, 2 symlink, 3 owner+mode+times. */
interface NativeTreeOp {
  kind: 0 | 1 | 2 | 3;
  path: string;
  target?: string;
  data?: Buffer;
  uid?: number;
  gid?: number;
  mode?: number;
  mtime?: number;
  chmod?: boolean;
  xattrs?: Array<[string, Buffer]>;
}

// Both src/util/fsx.ts (tests) and dist/util/fsx.js (installed) sit two levels below the
// package root, so one relative path serves both.
const ADDON_PATH = '../../native/build/fsx.node';
const S_IFCHR = 0o020000;

let loaded: FsxAddon | undefined;

function addon(): FsxAddon {
  if (loaded) return loaded;
  try {
    // process.dlopen, not require: no module resolution for a file whose path is known (~1.5 ms).
    const mod = { exports: {} };
    process.dlopen(mod, fileURLToPath(new URL(ADDON_PATH, import.meta.url)));
    loaded = mod.exports as FsxAddon;
    return loaded;
  } catch (err) {
    throw new TsbuildError('HELPER_MISSING', `loading native addon fsx.node: ${(err as Error).message}`, {
      cause: err,
      hint: 'run npm ci (it compiles native/fsx.c with the system C compiler)',
    });
  }
}

/** All extended attributes of `path` (not following a symlink); none on filesystems without xattrs. */
export function lgetxattrs(path: string): Promise<Array<[string, Buffer]>> {
  return addon().lgetxattrs(path);
}

/**
 * One extended attribute of `path` (not following a symlink), read on this thread: for the one
 * small attribute every build reads per blob (the content store's verified mark), where a
 * thread-pool round trip costs more than the syscall. Undefined when it has none (or its
 * filesystem has no xattrs); other failures throw.
 */
export function lgetxattrSync(path: string, name: string): Buffer | undefined {
  return addon().lgetxattrSync(path, name) ?? undefined;
}

export function lsetxattr(path: string, name: string, value: Buffer): Promise<void> {
  return addon().lsetxattr(path, name, value);
}

/** Creates a character device; 0/0 is an overlayfs whiteout. Needs root in the (user) namespace. */
export function mknodChar(path: string, major: number, minor: number, mode = 0): Promise<void> {
  return addon().mknod(path, S_IFCHR | (mode & 0o7777), major, minor);
}

/** Creates a block device, character device or fifo given the full st_mode (type bits included). */
export function mknodRaw(path: string, mode: number, major: number, minor: number): Promise<void> {
  return addon().mknod(path, mode, major, minor);
}

/** One directory entry as scanDir reports it. */
export interface ScannedEntry {
  name: string;
  /** False when the name's bytes are not UTF-8 (`name` then holds U+FFFD in their place). */
  nameIsUtf8: boolean;
  /** st_mode, file type bits included. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  /** st_mtim: whole seconds (floor) and nanoseconds. */
  mtimeSec: number;
  mtimeNsec: number;
  /** Set when nlink > 1: equal for two names of one inode on one filesystem (st_dev and st_ino). */
  inode?: string;
  rdevMajor: number;
  rdevMinor: number;
  /** A symlink's target. */
  linkTarget?: string;
  /** All extended attributes (not following a symlink), overlayfs' own included. */
  xattrs: ReadonlyArray<[string, Buffer]>;
  /** Reading the xattrs was refused (EACCES: `user.*` of a file without read permission); `xattrs` is empty. */
  xattrsUnread: boolean;
  /** A small regular file's first `size` bytes (zero-filled if it shrank), when the budget allowed. */
  data?: Buffer;
}

export interface ScanDirOptions {
  /** Regular files up to this size have their contents read along... */
  inlineMax: number;
  /** ...up to this many bytes in total; the rest (a tail in name order) is left to readFiles. */
  budget: number;
  /** False: xattrs are not read (`xattrs` stays empty), one syscall less per entry. */
  xattrs?: boolean;
}

const SCAN_NO_XATTRS = 1;
const SCAN_TAR = 2;
const SCAN_OWNER_ZERO = 4;
const SCAN_EPOCH = 8;

// Keep in step with enum field in native/fsxScan.c.
const F = {
  MODE: 0, UID: 1, GID: 2, NLINK: 3, SIZE_LO: 4, SIZE_HI: 5, MTIME_LO: 6, MTIME_HI: 7, MTIME_NSEC: 8,
  DEV_LO: 9, DEV_HI: 10, INO_LO: 11, INO_HI: 12, RDEV_MAJOR: 13, RDEV_MINOR: 14,
  NAME_OFF: 15, NAME_LEN: 16, LINK_OFF: 17, LINK_LEN: 18, XATTR_OFF: 19, XATTR_LEN: 20, DATA_OFF: 21, FLAGS: 22, TAR_END: 23,
  TAR_MTIME_LO: 24, TAR_MTIME_HI: 25,
} as const;
const REC_WORDS = 26;
const HAS_DATA = 1;
const HAS_LINK = 2;
const NAME_NOT_UTF8 = 4;
const XATTRS_UNREAD = 8;
const ARCHIVED = 16;
const TWO_32 = 2 ** 32;

/**
 * Every entry of `dir` (`.` and `..` aside) sorted by the bytes of its name, with its lstat
 * fields, xattrs, symlink target and, within `budget`, the contents of its small regular files:
 * one thread-pool job for the whole directory instead of several per file.
 */
export async function scanDir(dir: string, opts: ScanDirOptions): Promise<ScannedEntry[]> {
  const { count, meta, data } = await addon().scanDir(dir, opts.budget, opts.inlineMax, opts.xattrs === false ? SCAN_NO_XATTRS : 0);
  const { words, strings } = records(meta, count);
  const out: ScannedEntry[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = decode(words, strings, data, i * REC_WORDS);
  return out;
}

export interface TarScanOptions {
  inlineMax: number;
  budget: number;
  /** The directory's path in the tar (`a/b/`, or '' for the root). */
  prefix: string;
  /** Owners of entries without xattrs are 0:0 (an xattr store) rather than their lstat's. */
  ownerZero: boolean;
  /** Clamp mtimes to this (seconds). */
  sourceDateEpoch?: number;
}

/** An entry a tar scan left to its caller, or a directory (whose subtree the caller walks). */
export interface TarScanEntry extends ScannedEntry {
  /** Where the archived bytes before this entry end in `tar` (for an archived directory, after its header). */
  tarEnd: number;
  /** Its mtime in the tar: seconds truncated toward zero, clamped to `sourceDateEpoch`. */
  tarMtime: number;
  /** Its header is in `tar` already (only ever a directory among `entries`). */
  archived: boolean;
}

export interface TarScan {
  /** The tar bytes of the entries the scan archived itself (header, contents, padding), in name order. */
  tar: Buffer;
  /** In name order: every directory and every entry the scan did not archive. */
  entries: TarScanEntry[];
}

/**
 * scanDir for a layer tar: the common entries (no xattrs, not a possible hardlink, a small file's
 * contents within budget: see archivable() in native/fsxScan.c) come back as ready tar bytes,
 * written by the same encoder as tarHeader(); only the others and the directories as entries.
 */
export async function scanDirTar(dir: string, opts: TarScanOptions): Promise<TarScan> {
  const epoch = opts.sourceDateEpoch;
  const flags = SCAN_TAR | (opts.ownerZero ? SCAN_OWNER_ZERO : 0) | (epoch !== undefined ? SCAN_EPOCH : 0);
  const { count, meta, data, tar } = await addon().scanDir(dir, opts.budget, opts.inlineMax, flags, opts.prefix, epoch ?? 0);
  const { words, strings } = records(meta, count);
  // The addon leaves out the records of the entries it archived, directories aside.
  const entries: TarScanEntry[] = new Array(count);
  for (let i = 0, r = 0; i < count; i++, r += REC_WORDS) {
    const e = decode(words, strings, data, r) as TarScanEntry;
    e.tarEnd = words[r + F.TAR_END]!;
    e.tarMtime = (words[r + F.TAR_MTIME_HI]! | 0) * TWO_32 + words[r + F.TAR_MTIME_LO]!;
    e.archived = (words[r + F.FLAGS]! & ARCHIVED) !== 0;
    entries[i] = e;
  }
  return { tar, entries };
}

function records(meta: Buffer, count: number): { words: Uint32Array; strings: Buffer } {
  // Records are native-endian uint32 words; a Buffer the addon made is aligned, else copy.
  const words = meta.byteOffset % 4 === 0 ? new Uint32Array(meta.buffer, meta.byteOffset, count * REC_WORDS) : new Uint32Array(meta.buffer.slice(meta.byteOffset, meta.byteOffset + count * REC_WORDS * 4));
  return { words, strings: meta.subarray(count * REC_WORDS * 4) };
}

function decode(words: Uint32Array, strings: Buffer, data: Buffer, r: number): ScannedEntry {
  const flags = words[r + F.FLAGS]!;
  const size = words[r + F.SIZE_HI]! * TWO_32 + words[r + F.SIZE_LO]!;
  const nameOff = words[r + F.NAME_OFF]!;
  const nlink = words[r + F.NLINK]!;
  const e: ScannedEntry = {
    name: strings.toString('utf8', nameOff, nameOff + words[r + F.NAME_LEN]!),
    nameIsUtf8: (flags & NAME_NOT_UTF8) === 0,
    mode: words[r + F.MODE]!,
    uid: words[r + F.UID]!,
    gid: words[r + F.GID]!,
    nlink,
    size,
    mtimeSec: (words[r + F.MTIME_HI]! | 0) * TWO_32 + words[r + F.MTIME_LO]!,
    mtimeNsec: words[r + F.MTIME_NSEC]!,
    rdevMajor: words[r + F.RDEV_MAJOR]!,
    rdevMinor: words[r + F.RDEV_MINOR]!,
    xattrs: words[r + F.XATTR_LEN] === 0 ? NO_XATTRS : decodeXattrs(strings, words[r + F.XATTR_OFF]!, words[r + F.XATTR_LEN]!),
    xattrsUnread: (flags & XATTRS_UNREAD) !== 0,
  };
  if (nlink > 1) e.inode = `${words[r + F.DEV_HI]}.${words[r + F.DEV_LO]}:${words[r + F.INO_HI]}.${words[r + F.INO_LO]}`;
  if (flags & HAS_LINK) e.linkTarget = strings.toString('utf8', words[r + F.LINK_OFF], words[r + F.LINK_OFF]! + words[r + F.LINK_LEN]!);
  if (flags & HAS_DATA) e.data = data.subarray(words[r + F.DATA_OFF], words[r + F.DATA_OFF]! + size);
  return e;
}

const NO_XATTRS: ReadonlyArray<[string, Buffer]> = Object.freeze([]);

/** Header fields as native/fsxTar.c takes them; src/layer/tarHeader.ts is the typed front. */
export interface RawTarHeader {
  path: string;
  /** The ustar typeflag's character code. */
  typeflag: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: ReadonlyArray<readonly [string, Buffer]>;
}

/** One entry's tar header (pax extended header where needed, then ustar), by the encoder the tar scans use. */
export function tarHeader(h: RawTarHeader): Buffer {
  return addon().tarHeader(h.path, h.typeflag, h.mode, h.uid, h.gid, h.size, h.mtime, h.linkpath, h.devmajor, h.devminor, h.xattrs);
}

/** st_rdev as glibc's makedev encodes it (what lstat's `rdev` holds). */
export function rdevOf(e: Pick<ScannedEntry, 'rdevMajor' | 'rdevMinor'>): bigint {
  const { rdevMajor: ma, rdevMinor: mi } = e;
  return (BigInt(ma & 0xfff) << 8n) | (BigInt(ma & ~0xfff) << 32n) | BigInt(mi & 0xff) | (BigInt(mi & ~0xff) << 12n);
}

function decodeXattrs(strings: Buffer, off: number, len: number): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  const end = off + len;
  while (off < end) {
    const klen = strings.readUInt32LE(off);
    const key = strings.toString('utf8', off + 4, off + 4 + klen);
    off += 4 + klen;
    const vlen = strings.readUInt32LE(off);
    // A copy: the value outlives this scan's buffer in a tar header.
    out.push([key, Buffer.from(strings.subarray(off + 4, off + 4 + vlen))]);
    off += 4 + vlen;
  }
  return out;
}

/** The contents of these files of `dir`, each exactly `size` bytes (cut if it grew, zero-filled if it shrank), in one job. */
export async function readFiles(dir: string, files: ReadonlyArray<{ name: string; size: number }>): Promise<Buffer[]> {
  const all = await addon().readFiles(dir, files.map((f) => f.name), files.map((f) => f.size));
  const out: Buffer[] = [];
  let at = 0;
  for (const f of files) {
    out.push(all.subarray(at, at + f.size));
    at += f.size;
  }
  return out;
}

/** Owner, mode and times (seconds; atime = mtime) to give a path. */
export interface EntryMeta {
  uid: number;
  gid: number;
  mode: number;
  mtime: number;
}

/**
 * One step of a tree batch. Creations use O_EXCL semantics: they never replace or follow
 * what is at `path` (the batch stops with EEXIST). A file gets data, owner, mode (after the
 * owner, so setuid bits survive), xattrs, times; a directory is made 0700 with its xattrs
 * (its owner, mode and times come later, as a `meta` step, once its children are in); a
 * symlink gets owner, times, xattrs; `meta` sets owner, mode (unless `chmod` is false, as for
 * a symlink) and times of an existing path without following a final symlink.
 */
export type TreeOp =
  | { kind: 'file'; path: string; data: Buffer; meta: EntryMeta; xattrs: Array<[string, Buffer]> }
  | { kind: 'dir'; path: string; xattrs: Array<[string, Buffer]> }
  | { kind: 'symlink'; path: string; target: string; meta: EntryMeta; xattrs: Array<[string, Buffer]> }
  | { kind: 'meta'; path: string; meta: EntryMeta; chmod: boolean };

export interface TreeOpsResult {
  /** How many ops completed; when `error` is set, ops[done] is the one that failed. */
  done: number;
  error?: NodeJS.ErrnoException;
  /** Owners refused (id not mapped in this user namespace, or not root): the path kept ours. */
  ownersSkipped: number;
  /** Xattrs the filesystem refused. */
  xattrsSkipped: number;
}

const KIND = { file: 0, dir: 1, symlink: 2, meta: 3 } as const;

/**
 * Runs `ops` in order on one thread-pool thread, stopping at the first failure: a run of tar
 * entries costs one round trip instead of one per syscall. The Buffers in `ops` must not be
 * changed until the promise settles.
 */
export async function applyTreeOps(ops: TreeOp[]): Promise<TreeOpsResult> {
  const wire: NativeTreeOp[] = ops.map((op) => {
    const base: NativeTreeOp = { kind: KIND[op.kind], path: op.path };
    if (op.kind === 'dir') return { ...base, xattrs: op.xattrs };
    const { uid, gid, mode, mtime } = op.meta;
    const meta = { ...base, uid, gid, mode: mode & 0o7777, mtime };
    if (op.kind === 'file') return { ...meta, data: op.data, xattrs: op.xattrs };
    if (op.kind === 'symlink') return { ...meta, target: op.target, xattrs: op.xattrs };
    return { ...meta, chmod: op.chmod };
  });
  const [done, ownersSkipped, xattrsSkipped, error] = await addon().applyTreeOps(wire);
  return { done, ownersSkipped, xattrsSkipped, ...(error ? { error } : {}) };
}

/** How copyFiles left one file: copied, or left for the caller's own path. */
export type CopyOutcome = 'copied' | 'exists' | 'changed';

/**
 * Copies regular files of `srcDir` (plain names) into `dstDir` in one thread-pool job: each is
 * created exclusively (never through a link), its bytes reflinked or copied, then given
 * `uid:gid`, `modes[i]` (permission bits, applied after the owner) and the source's atime and
 * mtime. A destination that exists is left alone ('exists'); a source that is no longer a
 * regular file is not copied ('changed'). Any other failure rejects with the file's path.
 */
export async function copyFilesInto(srcDir: string, dstDir: string, files: ReadonlyArray<{ name: string; mode: number }>, owner: { uid: number; gid: number }): Promise<CopyOutcome[]> {
  const codes = await addon().copyFiles(srcDir, dstDir, files.map((f) => f.name), files.map((f) => f.mode), owner.uid, owner.gid);
  return codes.map((c) => (c === 0 ? 'copied' : c === EEXIST ? 'exists' : 'changed'));
}

const EEXIST = constants.errno.EEXIST;

/**
 * `data` as one complete gzip member (header, deflate stream, CRC-32 and size), compressed by
 * libdeflate on a thread-pool thread at `level` (0 stores, 1-12 compress). The same bytes and
 * level give the same member (for one libdeflate version). `data` must not be changed until the
 * promise settles. A bad argument rejects too, like a failure of the compressor.
 */
export async function gzipMember(data: Buffer, level: number): Promise<Buffer> {
  return addon().gzipMember(data, level);
}

/** An overlay (or, one lower and no upper, a read-only bind) at `target`, as the helper's mount-overlay mode makes it. */
export interface OverlaySpec {
  target: string;
  /** Top first. */
  lowers: string[];
  upper?: string;
  work?: string;
  userxattr: boolean;
  readonly: boolean;
}

/**
 * Mounts `spec` in this process's mount namespace (native/overlay.h, shared with the helper),
 * synchronously. Throws an Error with `errno` and the kernel's explanation where it gives one.
 */
export function mountOverlayHere(spec: OverlaySpec): void {
  addon().mountOverlay(spec);
}

/** Detaches the mount at `target` (MNT_DETACH, not following a symlink); throws an Error with `errno`. */
export function unmountHere(target: string): void {
  addon().unmount(target);
}
