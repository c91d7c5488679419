/**
 * The layer tar as src/layer/layerTar.ts made it before the batched native reads (one lstat,
 * xattr read and open/read/close per file through fs/promises), kept as the oracle that the
 * faster path must match byte for byte. Not used by tsbuild itself.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../../../src/errors.js';
import { lgetxattrs } from '../../../src/util/fsx.js';
import { ownerWriterFor } from '../../../src/layer/ownerWriter.js';
import { entryMeta, isBookkeepingXattr, type EntryMeta } from '../../../src/layer/ownerXattrs.js';
import type { StoreKind } from '../../../src/store/storeRoot.js';
import { BLOCK, encodeTarHeader, padding, type TarHeaderFields } from '../../../src/layer/tarHeader.js';
import { S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG } from '../../../src/util/fileType.js';
import type { LayerTarOptions } from '../../../src/layer/layerTar.js';

const EMPTY_TAR_SIZE = 2 * BLOCK;
const FLUSH_AT = 256 * 1024;
const READ_CHUNK = 1024 * 1024;
// lstat + xattr reads of one directory's children run this many at a time.
const STAT_PARALLEL = 32;
// Files up to this size are read in that same parallel batch: a tree of 20,000 small files
// otherwise costs three awaited round trips (open, read, close) per file, one file at a time.
const PREFETCH_MAX = 64 * 1024;

interface Node {
  name: string;
  rel: string;
  abs: string;
  st: BigIntStats;
  xattrs: Array<[string, Buffer]>;
  meta: EntryMeta;
  opaque: boolean;
  /** A small regular file's first st.size bytes (zero-filled if it shrank meanwhile). */
  data?: Buffer;
}

/**
 * The layer tar of `dir`, a directory in overlay-upper form, as a stream of chunks: entries
 * depth-first with each directory's children in byte order of their names (so a directory
 * always precedes its contents), 0/0 char devices as `.wh.<name>`, opaque directories followed
 * by `.wh..wh..opq`, repeated inodes as hardlinks to the first path. Same tree, same bytes.
 */
export async function* referenceLayerTar(dir: string, opts: LayerTarOptions): AsyncGenerator<Buffer> {
  const out = new Batcher();
  const links = new Map<string, string>();
  const opaqueKey = `${opts.xattrFlavor}.overlay.opaque`;
  const kind = opts.storeKind ?? 'native';

  async function* walk(absDir: string, relDir: string): AsyncGenerator<Buffer> {
    opts.signal?.throwIfAborted();
    const names = (await readdir(absDir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (let i = 0; i < names.length; i += STAT_PARALLEL) {
      const batch = await Promise.all(names.slice(i, i + STAT_PARALLEL).map((name) => inspect(absDir, relDir, name, opaqueKey, kind)));
      for (const node of batch) yield* entry(node);
    }
  }

  async function* entry(node: Node): AsyncGenerator<Buffer> {
    const { st, rel, abs, meta } = node;
    const kind = st.mode & S_IFMT;
    const base = headerBase(node, opts.sourceDateEpoch);
    if (kind === S_IFDIR) {
      yield* out.push(encodeTarHeader({ ...base, path: `${rel}/`, type: 'dir' }));
      if (node.opaque) {
        yield* out.push(encodeTarHeader({ ...base, path: `${rel}/.wh..wh..opq`, type: 'file', mode: 0o644, xattrs: [] }));
      }
      yield* walk(abs, rel);
    } else if (meta.whiteout) {
      // Mode 0 as the 0/0 char device has it (an xattr store's whiteout file is 0600).
      yield* out.push(encodeTarHeader({ ...base, mode: 0, path: whiteoutPath(rel, node.name), type: 'file', xattrs: [] }));
    } else if (meta.device !== undefined) {
      yield* out.push(encodeTarHeader({ ...base, path: rel, type: meta.device.type, devmajor: meta.device.major, devminor: meta.device.minor }));
    } else if (kind === S_IFREG) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1n ? links.get(key) : undefined;
      if (first !== undefined) {
        yield* out.push(encodeTarHeader({ ...base, path: rel, type: 'link', linkpath: first }));
        return;
      }
      if (st.nlink > 1n) links.set(key, rel);
      const size = Number(st.size);
      yield* out.push(encodeTarHeader({ ...base, path: rel, type: 'file', size }));
      if (node.data) {
        yield* out.push(node.data);
        const pad = padding(size);
        if (pad > 0) yield* out.push(Buffer.alloc(pad));
      } else {
        yield* fileData(abs, size, out, opts.signal);
      }
    } else if (kind === S_IFLNK) {
      const target = await readlink(abs);
      yield* out.push(encodeTarHeader({ ...base, path: rel, type: 'symlink', linkpath: target }));
    } else if (kind === S_IFIFO) {
      yield* out.push(encodeTarHeader({ ...base, path: rel, type: 'fifo' }));
    }
    // Sockets cannot be archived (Docker and containerd skip them too).
  }

  yield* walk(dir, '');
  yield* out.push(Buffer.alloc(EMPTY_TAR_SIZE));
  yield* out.flush();
}

async function inspect(absDir: string, relDir: string, name: string, opaqueKey: string, kind: StoreKind): Promise<Node> {
  const abs = join(absDir, name);
  const st = await lstat(abs, { bigint: true });
  const all = kind === 'native' ? await lgetxattrs(abs) : await ownerWriterFor(kind).readXattrs(abs);
  // overlayfs' own bookkeeping (opaque, origin, impure, redirect…) and the xattr store's owner and
  // device records never go into a layer.
  const xattrs = all.filter(([k]) => !isBookkeepingXattr(k, kind));
  const opaque = all.some(([k, v]) => k === opaqueKey && v.toString() === 'y');
  let meta: EntryMeta;
  try {
    meta = entryMeta(kind, st, all);
  } catch (err) {
    throw new TsbuildError('LAYER_INVALID', `archiving ${abs}: ${(err as Error).message}`, { cause: err, hint: 'the store holds a damaged owner or device record; remove the store (--root) and build again' });
  }
  const node: Node = { name, rel: relDir === '' ? name : `${relDir}/${name}`, abs, st, xattrs, meta, opaque };
  if ((st.mode & S_IFMT) === S_IFREG && !meta.whiteout && meta.device === undefined && st.size > 0n && st.size <= BigInt(PREFETCH_MAX)) node.data = await readSmall(abs, Number(st.size));
  return node;
}

/** Exactly `size` bytes of a small file, like fileData: cut if it grew, zero-filled if it shrank. */
async function readSmall(abs: string, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size);
  const fh = await open(abs, 'r');
  try {
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return buf;
}

function headerBase(node: Node, epoch: number | undefined): Omit<TarHeaderFields, 'path' | 'type'> {
  const { st } = node;
  const seconds = Number(st.mtimeNs / 1_000_000_000n);
  return {
    mode: Number(st.mode & 0o7777n),
    uid: node.meta.uid,
    gid: node.meta.gid,
    size: 0,
    mtime: epoch !== undefined && seconds > epoch ? epoch : seconds,
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
        yield* out.push(Buffer.alloc(left));
        break;
      }
      left -= bytesRead;
      yield* out.push(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  const pad = padding(size);
  if (pad > 0) yield* out.push(Buffer.alloc(pad));
}

/** Coalesces small header and data pieces so downstream sees few, large chunks. */
class Batcher {
  private parts: Buffer[] = [];
  private length = 0;

  *push(buf: Buffer): Generator<Buffer> {
    if (buf.length >= FLUSH_AT) {
      yield* this.flush();
      yield buf;
      return;
    }
    this.parts.push(buf);
    this.length += buf.length;
    if (this.length >= FLUSH_AT) yield* this.flush();
  }

  *flush(): Generator<Buffer> {
    if (this.length === 0) return;
    const joined = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    yield joined;
  }
}
