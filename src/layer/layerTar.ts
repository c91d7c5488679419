import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError, wrapError } from '../errors.js';
import { rdevOf, readFiles, scanDirTar, type ScannedEntry, type TarScan, type TarScanEntry } from '../util/fsx.js';
import { ownerWriterFor } from './ownerWriter.js';
import type { StoreKind, XattrFlavor } from '../store/storeRoot.js';
import { entryMeta, isBookkeepingXattr, type EntryMeta } from './ownerXattrs.js';
import { BLOCK, encodeTarHeader, padding, type TarHeaderFields } from './tarHeader.js';

const { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG } = constants;

export interface LayerTarOptions {
  xattrFlavor: XattrFlavor;
  /** Where owners, whiteouts and devices are read from (default native: lstat). */
  storeKind?: StoreKind;
  /** Clamp mtimes to this (seconds): `mtime > epoch ? epoch : mtime`. */
  sourceDateEpoch?: number;
  signal?: AbortSignal;
}

/** The size of an archive with no entries: just the two zero end blocks. */
export const EMPTY_TAR_SIZE = 2 * BLOCK;

const FLUSH_AT = 256 * 1024;
// Pieces this big (a scan's run of archived entries, a big file's chunk) go downstream as they
// are: joining them would only copy them once more.
const PASS_AT = 64 * 1024;
const READ_CHUNK = 1024 * 1024;
// Regular files up to this size are read whole by the directory scan (scanDirTar) or, past its
// budget, in batches (readFiles); bigger ones are streamed in READ_CHUNK pieces.
const INLINE_MAX = 64 * 1024;
// Small files' contents held at once: every directory on the path being walked keeps its scan
// until its entries are written (and a scan ahead holds its share), so the budget is shared
// along the path, not given per level. One scan reads at most SCAN_BUDGET of it, and at most
// half of what is left, so the scans ahead all get some.
const HELD_MAX = 8 * 1024 * 1024;
const SCAN_BUDGET = 4 * 1024 * 1024;
// Sibling directories scanned ahead of the one being walked, and scans ahead at most: enough
// for the pool threads to keep the CPUs busy reading while this thread archives.
const SIBLINGS_AHEAD = 2;
const SCANS_AHEAD = 3;
// One readFiles batch (the files a scan left out), beyond HELD_MAX; at most one is alive.
const BATCH_MAX = 1024 * 1024;

interface Scan {
  result: Promise<TarScan>;
  /** Budget set aside for its small files' contents until it is known how much they took. */
  reserved: number;
}

/** A directory being walked: its scan and how far its archived bytes have gone out. */
interface Dir {
  absDir: string;
  relDir: string;
  tar: Buffer;
  entries: TarScanEntry[];
  /** The entry to archive next. */
  next: number;
  written: number;
  /** Bytes of the scan held until the directory is done. */
  held: number;
  subdirs: TarScanEntry[];
  nextSubdir: number;
}

interface Node {
  e: TarScanEntry;
  rel: string;
  abs: string;
  opaque: boolean;
  xattrs: ReadonlyArray<[string, Buffer]>;
  meta: EntryMeta;
}

/**
 * The layer tar of `dir`, a directory in overlay-upper form, as a stream of chunks: entries
 * depth-first with each directory's children in byte order of their names (so a directory
 * always precedes its contents), 0/0 char devices as `.wh.<name>`, opaque directories followed
 * by `.wh..wh..opq`, repeated inodes as hardlinks to the first path. Same tree, same bytes.
 */
export async function* layerTar(dir: string, opts: LayerTarOptions): AsyncGenerator<Buffer> {
  const out = new Batcher();
  const links = new Map<string, string>();
  const opaqueKey = `${opts.xattrFlavor}.overlay.opaque`;
  const storeKind = opts.storeKind ?? 'native';
  let held = 0;
  // Scans started before their directory's turn, so the thread pool reads the next directory
  // while this thread archives the current one.
  const ahead = new Map<string, Scan>();

  function startScan(absDir: string, relDir: string): Scan {
    const reserved = Math.max(0, Math.min(SCAN_BUDGET, Math.floor((HELD_MAX - held) / 2)));
    held += reserved;
    const prefix = relDir === '' ? '' : `${relDir}/`;
    const result = scanDirTar(absDir, { inlineMax: INLINE_MAX, budget: reserved, prefix, ownerZero: storeKind === 'xattr', ...(opts.sourceDateEpoch !== undefined ? { sourceDateEpoch: opts.sourceDateEpoch } : {}) });
    // Awaited (and its failure reported) by the walk that reaches the directory; not before.
    result.catch(() => undefined);
    return { result, reserved };
  }

  /** Starts the scans of the next SIBLINGS_AHEAD subdirectories of `dir` from subdirs[from] on. */
  function prefetch(dir: Dir, from: number): void {
    for (let k = from; k < Math.min(from + SIBLINGS_AHEAD, dir.subdirs.length) && ahead.size < SCANS_AHEAD; k++) {
      const absDir = join(dir.absDir, dir.subdirs[k]!.name);
      if (!ahead.has(absDir)) ahead.set(absDir, startScan(absDir, relOf(dir.relDir, dir.subdirs[k]!.name)));
    }
  }

  // The scan archives the common entries itself (their bytes come as one buffer, `tar`); per
  // entry left here the work is synchronous (headers and small files' bytes are appended to
  // `out`); only directories and big files' bodies await, so 20,000 files are not 20,000 generators.
  // Depth first over a stack of directories rather than a generator per directory: a chunk is
  // yielded once, not once per level, and this one generator stays small (the rest is in the
  // helpers below), which is what the JIT weighs when it compiles code that suspends often.
  async function* walk(root: string): AsyncGenerator<Buffer> {
    const stack: Dir[] = [];
    try {
      stack.push(await openDir(root, ''));
      while (stack.length > 0) {
        const dir = stack[stack.length - 1]!;
        if (dir.next === dir.entries.length) {
          passArchived(dir, dir.tar.length);
          for (const chunk of out.take()) yield chunk;
          held -= dir.held;
          stack.pop();
          continue;
        }
        const e = dir.entries[dir.next++]!;
        passArchived(dir, e.tarEnd);
        if (!e.archived) {
          const all = e.xattrsUnread || (!e.data && isSmallFile(e)) ? await readLeftovers(dir.absDir, dir.entries, dir.next - 1) : e.xattrs;
          if (appendEntry(dir, e, all)) yield* fileData(join(dir.absDir, e.name), e.size, out, opts.signal);
        }
        for (const chunk of out.take()) yield chunk;
        if ((e.mode & S_IFMT) === S_IFDIR) stack.push(await openDir(join(dir.absDir, e.name), descend(dir)));
      }
    } finally {
      for (const dir of stack) held -= dir.held;
    }
  }

  async function openDir(absDir: string, relDir: string): Promise<Dir> {
    opts.signal?.throwIfAborted();
    const scan = ahead.get(absDir) ?? startScan(absDir, relDir);
    ahead.delete(absDir);
    let result: TarScan;
    try {
      result = await scan.result;
    } finally {
      held -= scan.reserved;
    }
    const { tar, entries } = result;
    const dir: Dir = { absDir, relDir, tar, entries, next: 0, written: 0, held: 0, subdirs: entries.filter((e) => (e.mode & S_IFMT) === S_IFDIR), nextSubdir: 0 };
    dir.held = tar.length + entries.reduce((n, e) => n + (e.data ? e.size : 0), 0);
    held += dir.held;
    prefetch(dir, 0);
    return dir;
  }

  /** Sends on the bytes the scan archived up to `end` (the entries before the next one left here). */
  function passArchived(dir: Dir, end: number): void {
    if (end > dir.written) {
      out.push(dir.tar.subarray(dir.written, end));
      dir.written = end;
    }
  }

  /** The relative path of the subdirectory walked next, with scans of the ones after it started. */
  function descend(dir: Dir): string {
    const subdir = dir.subdirs[dir.nextSubdir++]!;
    prefetch(dir, dir.nextSubdir);
    return relOf(dir.relDir, subdir.name);
  }

  /** Appends an entry the scan left here (see append()). */
  function appendEntry(dir: Dir, e: TarScanEntry, all: ReadonlyArray<[string, Buffer]>): boolean {
    if (!e.nameIsUtf8) {
      throw new TsbuildError('LAYER_INVALID', `archiving ${dir.absDir}: the name ${JSON.stringify(e.name)} is not UTF-8`, {
        hint: 'rename the file (layer tars carry UTF-8 paths)',
      });
    }
    return append(node(e, all, dir.absDir, dir.relDir, opaqueKey, storeKind));
  }

  /** Reads what the scan left out of entries[i]: small files' contents past its budget, xattrs it was refused; returns the xattrs. */
  async function readLeftovers(absDir: string, entries: ScannedEntry[], i: number): Promise<ReadonlyArray<[string, Buffer]>> {
    const e = entries[i]!;
    // appendEntry() refuses it.
    if (!e.nameIsUtf8) return e.xattrs;
    if (!e.data && isSmallFile(e)) await readTail(absDir, entries, i);
    // The scan leaves out xattrs it was refused (EACCES): an xattr store's owner reads them its way.
    return e.xattrsUnread ? ownerWriterFor(storeKind).readXattrs(join(absDir, e.name)) : e.xattrs;
  }

  /** Appends the entry's header (and a small file's body); true when a big file's body is still to come. */
  function append(node: Node): boolean {
    const { e, rel } = node;
    const kind = e.mode & S_IFMT;
    const h = header(node);
    if (kind === S_IFDIR) {
      h.path = `${rel}/`;
      h.type = 'dir';
      out.push(encodeTarHeader(h));
      if (node.opaque) {
        out.push(encodeTarHeader({ ...h, path: `${rel}/.wh..wh..opq`, type: 'file', mode: 0o644, xattrs: [] }));
      }
    } else if (node.meta.whiteout) {
      h.path = whiteoutPath(rel, e.name);
      // Mode 0 as the 0/0 char device has it (an xattr store's whiteout file is 0600).
      h.mode = 0;
      h.xattrs = [];
      out.push(encodeTarHeader(h));
    } else if (node.meta.device !== undefined) {
      h.type = node.meta.device.type;
      h.devmajor = node.meta.device.major;
      h.devminor = node.meta.device.minor;
      out.push(encodeTarHeader(h));
    } else if (kind === S_IFREG) {
      if (e.inode !== undefined) {
        const first = links.get(e.inode);
        if (first !== undefined) {
          h.type = 'link';
          h.linkpath = first;
          out.push(encodeTarHeader(h));
          return false;
        }
        links.set(e.inode, rel);
      }
      h.size = e.size;
      out.push(encodeTarHeader(h));
      if (!e.data) return e.size > 0;
      out.push(e.data);
      out.pad(e.size);
    } else if (kind === S_IFLNK) {
      h.type = 'symlink';
      h.linkpath = e.linkTarget ?? '';
      out.push(encodeTarHeader(h));
    } else if (kind === S_IFIFO) {
      h.type = 'fifo';
      out.push(encodeTarHeader(h));
    }
    // Sockets cannot be archived (Docker and containerd skip them too).
    return false;
  }

  try {
    yield* walk(dir);
    out.push(Buffer.alloc(EMPTY_TAR_SIZE));
    out.flush();
    for (const chunk of out.take()) yield chunk;
  } catch (err) {
    if ((err as Error).name === 'AbortError' || err instanceof TsbuildError) throw err;
    throw wrapError('LAYER_INVALID', `archiving ${dir}`, err);
  }
}

function relOf(relDir: string, name: string): string {
  return relDir === '' ? name : `${relDir}/${name}`;
}

function isSmallFile(e: ScannedEntry): boolean {
  return (e.mode & S_IFMT) === S_IFREG && e.size > 0 && e.size <= INLINE_MAX;
}

/** Reads the small files the scan had no budget for, from `from` on, BATCH_MAX bytes at a time. */
async function readTail(absDir: string, entries: ScannedEntry[], from: number): Promise<void> {
  const batch: ScannedEntry[] = [];
  let bytes = 0;
  for (let i = from; i < entries.length && bytes < BATCH_MAX; i++) {
    const e = entries[i]!;
    // A directory ends the batch: its subtree is walked before the files after it are written.
    if ((e.mode & S_IFMT) === S_IFDIR) break;
    if (e.data || !isSmallFile(e) || !e.nameIsUtf8) continue;
    batch.push(e);
    bytes += e.size;
  }
  const data = await readFiles(absDir, batch);
  batch.forEach((e, i) => (e.data = data[i]));
}

function node(e: TarScanEntry, all: ReadonlyArray<[string, Buffer]>, absDir: string, relDir: string, opaqueKey: string, kind: StoreKind): Node {
  const abs = join(absDir, e.name);
  // overlayfs' own bookkeeping (opaque, origin, impure, redirect…) and the xattr store's owner and
  // device records never go into a layer.
  const xattrs = all.length === 0 ? all : all.filter(([k]) => !isBookkeepingXattr(k, kind));
  const opaque = all.length > 0 && all.some(([k, v]) => k === opaqueKey && v.toString() === 'y');
  let meta: EntryMeta;
  try {
    meta = entryMeta(kind, statLike(e), all);
  } catch (err) {
    throw new TsbuildError('LAYER_INVALID', `archiving ${abs}: ${(err as Error).message}`, { cause: err, hint: 'the store holds a damaged owner or device record; remove the store (--root) and build again' });
  }
  return { e, rel: relDir === '' ? e.name : `${relDir}/${e.name}`, abs, opaque, xattrs, meta };
}

/** What entryMeta reads of an lstat, from a scanned entry (rdev as glibc's makedev encodes it). */
function statLike(e: ScannedEntry): { mode: bigint; uid: bigint; gid: bigint; rdev: bigint } {
  const type = e.mode & S_IFMT;
  const rdev = type === S_IFCHR || type === S_IFBLK ? rdevOf(e) : 0n;
  return { mode: BigInt(e.mode), uid: BigInt(e.uid), gid: BigInt(e.gid), rdev };
}

/** The entry's header as a plain file with no body; append() adjusts what differs. */
function header(node: Node): TarHeaderFields {
  return {
    path: node.rel,
    type: 'file',
    mode: node.meta.mode,
    uid: node.meta.uid,
    gid: node.meta.gid,
    size: 0,
    // As the scan derives it for the entries it archives (clamped to SOURCE_DATE_EPOCH).
    mtime: node.e.tarMtime,
    xattrs: node.xattrs,
  };
}

function whiteoutPath(rel: string, name: string): string {
  return `${rel.slice(0, rel.length - name.length)}.wh.${name}`;
}

/**
 * Streams exactly `size` bytes (what the header announced) plus block padding. A file that
 * changed size meanwhile is cut or zero-filled so the archive stays well-formed.
 */
async function* fileData(abs: string, size: number, out: Batcher, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await open(abs, 'r');
  try {
    let left = size;
    while (left > 0) {
      signal?.throwIfAborted();
      const buf = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
      const { bytesRead } = await fh.read(buf, 0, buf.length, size - left);
      if (bytesRead === 0) {
        out.push(Buffer.alloc(left));
        break;
      }
      left -= bytesRead;
      out.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      for (const chunk of out.take()) yield chunk;
    }
  } finally {
    await fh.close();
  }
  out.pad(size);
}

// Never written to: padding is a view of it, copied when the batch is joined.
const ZEROS = Buffer.alloc(BLOCK);
const NONE: readonly Buffer[] = [];

/** Coalesces small header and data pieces so downstream sees few, large chunks. */
class Batcher {
  private parts: Buffer[] = [];
  private length = 0;
  private ready: Buffer[] = [];

  push(buf: Buffer): void {
    if (buf.length >= PASS_AT) {
      this.flush();
      this.ready.push(buf);
      return;
    }
    this.parts.push(buf);
    this.length += buf.length;
    if (this.length >= FLUSH_AT) this.flush();
  }

  /** The zeros that complete a body of `size` bytes to a whole block. */
  pad(size: number): void {
    const pad = padding(size);
    if (pad > 0) this.push(ZEROS.subarray(0, pad));
  }

  flush(): void {
    if (this.length === 0) return;
    this.ready.push(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length));
    this.parts = [];
    this.length = 0;
  }

  /** The chunks completed so far, in order. */
  take(): readonly Buffer[] {
    if (this.ready.length === 0) return NONE;
    const done = this.ready;
    this.ready = [];
    return done;
  }
}
