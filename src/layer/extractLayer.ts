import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, open, rm, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { TsbuildError, wrapError } from '../errors.js';
import { lsetxattr, mknodRaw } from '../util/fsx.js';
import type { XattrFlavor } from './layerTar.js';
import { ownerWriterFor, type OwnerWriter } from './ownerWriter.js';
import { isBookkeepingXattr, type StoreKind } from './ownerXattrs.js';
import { readTar, type TarEntry } from './tarReader.js';
const { S_IFCHR, S_IFBLK, S_IFIFO } = fsConstants;

export interface ExtractLayerOptions {
  xattrFlavor: XattrFlavor;
  /** native: real owners and device nodes; xattr: recorded in user.* xattrs (ownerXattrs.ts). */
  storeKind?: StoreKind;
  signal?: AbortSignal;
}

/** What the filesystem or the namespace refused and was skipped (the layer is still usable). */
export interface ExtractSkipped {
  /** lchown refused (id not mapped in this user namespace): the entry kept our owner. */
  owners: number;
  /** device nodes that mknod refused */
  devices: number;
  /** xattrs the filesystem refused */
  xattrs: number;
}

export interface ExtractResult {
  diffID: string;
  skipped: ExtractSkipped;
}

const GZIP_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);
const TAR_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.docker.image.rootfs.diff.tar',
]);

const WRITE_NEW = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;

function invalid(detail: string): TsbuildError {
  return new TsbuildError('LAYER_INVALID', `extracting layer: ${detail}`, {
    hint: 'the layer contains an unsafe or malformed entry; the image may be corrupt or hostile',
  });
}

/**
 * Unpacks a layer blob into `dest` (an existing, empty directory) in overlay form: `.wh.x`
 * becomes a 0/0 char device `x`, `.wh..wh..opq` the `<flavor>.overlay.opaque=y` xattr on its
 * directory. Returns the diffID, hashed from the uncompressed bytes on the way through.
 * Entries never escape `dest`: `..` is refused, a leading `/` stripped, every parent must be a
 * real directory (never a symlink), hardlinks must point at entries already in `dest`.
 */
export async function extractLayer(
  blob: NodeJS.ReadableStream,
  mediaType: string,
  dest: string,
  opts: ExtractLayerOptions,
): Promise<ExtractResult> {
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.zstd')) {
    throw new TsbuildError('LAYER_INVALID', `extracting layer: zstd layers are not supported yet (${mediaType})`, {
      hint: 'use an image with gzip layers',
    });
  }
  const gzip = GZIP_TYPES.has(mediaType);
  if (!gzip && !TAR_TYPES.has(mediaType)) {
    throw new TsbuildError('LAYER_INVALID', `extracting layer: unsupported media type ${mediaType}`);
  }
  const hash = createHash('sha256');
  const writer = new TreeWriter(dest, opts.xattrFlavor, ownerWriterFor(opts.storeKind ?? 'native'));
  // pipeline() rejects as soon as gunzip fails, while the consumer may still be writing an
  // entry; the caller then removes `dest`, so it must not return before the writes have stopped.
  let consuming: Promise<void> | undefined;
  const consume = (source: AsyncIterable<Buffer>): Promise<void> => {
    async function* hashed(): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        hash.update(chunk);
        yield chunk;
      }
    }
    consuming = (async () => {
      for await (const entry of readTar(hashed())) {
        opts.signal?.throwIfAborted();
        await writer.write(entry);
      }
      await writer.finish();
    })();
    return consuming;
  };
  const signalOpt = opts.signal ? { signal: opts.signal } : {};
  try {
    if (gzip) await pipeline(blob, createGunzip(), consume, signalOpt);
    else await pipeline(blob as Readable, consume, signalOpt);
  } catch (err) {
    await consuming?.catch(() => undefined);
    if (err instanceof TsbuildError) throw err;
    if ((err as Error).name === 'AbortError') throw new TsbuildError('ABORTED', 'extracting layer: aborted', { cause: err });
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || code === 'ERR_INVALID_ARG_VALUE') {
      throw new TsbuildError('LAYER_INVALID', `extracting layer: ${(err as Error).message}`, {
        cause: err,
        hint: 'the layer blob is corrupt or truncated',
      });
    }
    throw wrapError('LAYER_INVALID', `extracting layer into ${dest}`, err);
  }
  return { diffID: `sha256:${hash.digest('hex')}`, skipped: writer.skipped };
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** Applies tar entries to a directory tree; all the path-safety rules live here. */
class TreeWriter {
  readonly skipped: ExtractSkipped = { owners: 0, devices: 0, xattrs: 0 };
  // Relative paths verified (or created) as real directories; '' is dest itself.
  private readonly realDirs = new Set<string>(['']);
  // Directory metadata is applied last: creating children would bump mtimes, and a read-only
  // mode would get in the way of the children.
  private readonly dirMeta = new Map<string, DirMeta>();

  constructor(
    private readonly dest: string,
    private readonly flavor: XattrFlavor,
    private readonly owners: OwnerWriter,
  ) {}

  async write(e: TarEntry): Promise<void> {
    const parts = cleanPath(e.path);
    const rel = parts.join('/');
    const base = parts[parts.length - 1] ?? '';
    if (base.startsWith('.wh.')) return this.whiteout(parts, base, e);
    if (parts.length === 0) {
      if (e.type !== 'dir') throw invalid(`${e.path}: the root must be a directory`);
      this.dirMeta.set('', meta(e));
      return;
    }
    await this.ensureParents(parts);
    const abs = join(this.dest, rel);
    switch (e.type) {
      case 'dir': {
        const st = await lstatOrNull(abs);
        if (!st?.isDirectory()) {
          await this.remove(rel, abs);
          await mkdir(abs, 0o700);
        }
        this.realDirs.add(rel);
        this.dirMeta.set(rel, meta(e));
        await this.setXattrs(abs, e.xattrs);
        return;
      }
      case 'file': {
        await this.remove(rel, abs);
        const fh = await open(abs, WRITE_NEW, 0o600);
        try {
          for await (const chunk of e.body) await writeAll(fh, chunk);
          await this.chownWith(() => (this.owners.kind === 'native' ? fh.chown(e.uid, e.gid) : this.owners.chown(abs, e.uid, e.gid, { created: true })));
          await fh.chmod(e.mode & 0o7777);
        } finally {
          await fh.close();
        }
        await this.setXattrs(abs, e.xattrs);
        await utimes(abs, e.mtime, e.mtime);
        return;
      }
      case 'symlink': {
        await this.remove(rel, abs);
        await symlink(e.linkpath, abs);
        await this.chownWith(() => this.owners.chown(abs, e.uid, e.gid, { created: true }));
        await this.setXattrs(abs, e.xattrs);
        await lutimes(abs, e.mtime, e.mtime);
        return;
      }
      case 'link': {
        const target = cleanPath(e.linkpath);
        if (target.length === 0) throw invalid(`${e.path}: hardlink to the root`);
        const targetAbs = await this.existingInside(target, e);
        if (target.join('/') === rel) return;
        await this.remove(rel, abs);
        await link(targetAbs, abs);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        await this.remove(rel, abs);
        const typeBits = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
        try {
          if (e.type !== 'fifo') await this.owners.device(abs, { type: e.type, major: e.devmajor, minor: e.devminor }, e.mode);
          else await mknodRaw(abs, typeBits | (e.mode & 0o7777), e.devmajor, e.devminor);
        } catch (err) {
          // Without CAP_MKNOD (rootless) devices cannot exist; images rarely need them.
          if (isRefused(err)) {
            this.skipped.devices++;
            return;
          }
          throw err;
        }
        await this.chownWith(() => this.owners.chown(abs, e.uid, e.gid, { created: true }));
        await chmod(abs, e.mode & 0o7777);
        await this.setXattrs(abs, e.xattrs);
        await utimes(abs, e.mtime, e.mtime);
        return;
      }
    }
  }

  /** Applies the deferred directory metadata, deepest first. */
  async finish(): Promise<void> {
    const rels = [...this.dirMeta.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    for (const rel of rels) {
      const m = this.dirMeta.get(rel)!;
      const abs = rel === '' ? this.dest : join(this.dest, rel);
      // Only this pass gives directories owners: none carries one yet.
      await this.chownWith(() => this.owners.chown(abs, m.uid, m.gid, { created: true }));
      await chmod(abs, m.mode & 0o7777);
      await utimes(abs, m.mtime, m.mtime);
    }
  }

  private async whiteout(parts: string[], base: string, e: TarEntry): Promise<void> {
    const dirParts = parts.slice(0, -1);
    await this.ensureParents(parts);
    const dirAbs = join(this.dest, ...dirParts);
    if (base === '.wh..wh..opq') {
      try {
        await lsetxattr(dirAbs, `${this.flavor}.overlay.opaque`, Buffer.from('y'));
      } catch (err) {
        throw new TsbuildError('LAYER_INVALID', `extracting layer: marking ${dirParts.join('/') || '/'} opaque: ${(err as Error).message}`, {
          cause: err,
          hint: `the store's filesystem must support ${this.flavor}.* xattrs (overlayfs needs them)`,
        });
      }
      return;
    }
    // Other `.wh..wh.` names are aufs bookkeeping (e.g. `.wh..wh.plnk`), meaningless here.
    if (base.startsWith('.wh..wh.')) return;
    const name = base.slice('.wh.'.length);
    if (name === '' || name === '.' || name === '..') throw invalid(`bad whiteout ${parts.join('/')}`);
    const rel = [...dirParts, name].join('/');
    const abs = join(this.dest, rel);
    await this.remove(rel, abs);
    await this.owners.whiteout(abs);
    // Owner and time too, so re-archiving an unpacked layer reproduces its diffID.
    await this.chownWith(() => this.owners.chown(abs, e.uid, e.gid, { created: true }));
    await utimes(abs, e.mtime, e.mtime);
  }

  /** Every parent of `parts` becomes (or must already be) a real directory inside dest. */
  private async ensureParents(parts: string[]): Promise<void> {
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (this.realDirs.has(rel)) continue;
      const abs = join(this.dest, rel);
      const st = await lstatOrNull(abs);
      if (st === null) {
        await mkdir(abs, 0o755);
        await chmod(abs, 0o755);
      } else if (!st.isDirectory()) {
        throw invalid(`${parts.join('/')}: parent ${rel} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
      }
      this.realDirs.add(rel);
    }
  }

  /** A hardlink target: must already exist in dest, reached through real directories only. */
  private async existingInside(target: string[], e: TarEntry): Promise<string> {
    for (let i = 1; i < target.length; i++) {
      const rel = target.slice(0, i).join('/');
      if (this.realDirs.has(rel)) continue;
      const st = await lstatOrNull(join(this.dest, rel));
      if (!st?.isDirectory()) throw invalid(`${e.path}: hardlink target ${e.linkpath} is not inside the layer`);
      this.realDirs.add(rel);
    }
    const abs = join(this.dest, ...target);
    const st = await lstatOrNull(abs);
    if (st === null || st.isDirectory()) throw invalid(`${e.path}: hardlink target ${e.linkpath} is not a file in the layer`);
    return abs;
  }

  /** Clears the way for a new entry; never follows a symlink (rm removes the link itself). */
  private async remove(rel: string, abs: string): Promise<void> {
    if ((await lstatOrNull(abs)) === null) return;
    await rm(abs, { recursive: true, force: true });
    for (const set of [this.realDirs, this.dirMeta] as const) {
      for (const key of set.keys()) if (key === rel || key.startsWith(`${rel}/`)) set.delete(key);
    }
  }

  private async chownWith(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      // EINVAL: the id has no mapping in this user namespace; EPERM: not root at all.
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINVAL' || code === 'EPERM') this.skipped.owners++;
      else throw err;
    }
  }

  private async setXattrs(abs: string, xattrs: Array<[string, Buffer]>): Promise<void> {
    for (const [name, value] of xattrs) {
      // A layer must not forge overlayfs metadata (redirects, metacopy, opaque) in a lowerdir,
      // nor owners or devices in an xattr store.
      if (isBookkeepingXattr(name, this.owners.kind)) continue;
      try {
        await this.owners.setXattr(abs, name, value);
      } catch (err) {
        if (isRefused(err)) this.skipped.xattrs++;
        else throw err;
      }
    }
  }
}

function meta(e: TarEntry): DirMeta {
  return { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
}

/** Path components of a tar name: leading `/` and `.` dropped, `..` refused. */
function cleanPath(name: string): string[] {
  if (name.includes('\0')) throw invalid(`${JSON.stringify(name)}: NUL in name`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw invalid(`${name}: path escapes the layer`);
  return parts;
}

function isRefused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPERM' || code === 'EACCES' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EINVAL';
}

async function lstatOrNull(path: string): Promise<import('node:fs').Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}
