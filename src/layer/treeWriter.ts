import { constants as fsConstants } from 'node:fs';
import { chmod, link, lutimes, mkdir, open, rm, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../errors.js';
import { applyTreeOps, lsetxattr, mknodRaw, type EntryMeta, type TreeOp } from '../util/fsx.js';
import { lstatIfExists } from '../util/lstatIfExists.js';
import type { XattrFlavor } from '../store/storeRoot.js';
import type { OwnerWriter } from './ownerWriter.js';
import { isBookkeepingXattr } from './ownerXattrs.js';
import type { TarEntry } from './tarReader.js';
const { S_IFCHR, S_IFBLK, S_IFIFO } = fsConstants;

/** What the filesystem or the namespace refused and was skipped (the layer is still usable). */
export interface ExtractSkipped {
  /** lchown refused (id not mapped in this user namespace): the entry kept our owner. */
  owners: number;
  /** device nodes that mknod refused */
  devices: number;
  /** xattrs the filesystem refused */
  xattrs: number;
}

const WRITE_NEW = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
/**
 * Files up to this size are gathered in memory and written by the native batch (create, write,
 * owner, mode, xattrs, times on a pool thread): a base image is mostly small files, and one
 * thread-pool round trip per syscall cost more than the syscalls (a Debian base took 7 s).
 */
const GATHER_MAX = 1024 * 1024;
/** A batch holds at most this many ops or bytes of file data; one runs while the next fills. */
const BATCH_OPS = 256;
const BATCH_BYTES = 8 * 1024 * 1024;

export function invalidEntry(detail: string): TsbuildError {
  return new TsbuildError('LAYER_INVALID', `extracting layer: ${detail}`, {
    hint: 'the layer contains an unsafe or malformed entry; the image may be corrupt or hostile',
  });
}

/**
 * Applies tar entries to a directory tree (`dest`, empty at the start); all the path-safety
 * rules live here. New files, directories and symlinks are queued into native batches that run
 * in order on one pool thread while the next entries are parsed. Anything that must look at the
 * disk (a path an earlier entry made, a missing parent, a hardlink target, a whiteout) first
 * waits for the queue to drain, so every entry sees the tree exactly as the entries before it
 * left it. Creations never replace or follow what is there: a path that exists is removed first
 * (never through a symlink), and only a path this writer made can exist.
 * In an xattr store (owners and devices as `user.*` xattrs, see README.md) every entry takes the
 * one-call-at-a-time path through the OwnerWriter instead of the native batch.
 */
export class TreeWriter {
  readonly skipped: ExtractSkipped = { owners: 0, devices: 0, xattrs: 0 };
  // Relative paths verified (or created) as real directories; '' is dest itself.
  private readonly realDirs = new Set<string>(['']);
  // Hashes of the non-directory paths made so far. A hit may be a collision (then the slow
  // path finds nothing to remove); a miss means the path certainly does not exist.
  private readonly madeFiles = new Set<number>();
  // Directory metadata is applied last: creating children would bump mtimes, and a read-only
  // mode would get in the way of the children.
  private readonly dirMeta = new Map<string, EntryMeta>();
  private queue: TreeOp[] = [];
  private queuedBytes = 0;
  private running: Promise<void> | undefined;
  // Native store: creations go through the batch, which sets real owners.
  private readonly batched: boolean;

  constructor(
    private readonly dest: string,
    private readonly flavor: XattrFlavor,
    private readonly owners: OwnerWriter,
  ) {
    this.batched = owners.kind === 'native';
  }

  async write(e: TarEntry): Promise<void> {
    const parts = cleanPath(e.path);
    const rel = parts.join('/');
    const base = parts[parts.length - 1] ?? '';
    if (base.startsWith('.wh.')) {
      await this.settle();
      return this.whiteout(parts, base, e);
    }
    if (parts.length === 0) {
      if (e.type !== 'dir') throw invalidEntry(`${e.path}: the root must be a directory`);
      this.dirMeta.set('', meta(e));
      return;
    }
    await this.ensureParents(parts);
    const abs = join(this.dest, rel);
    switch (e.type) {
      case 'dir': {
        const xattrs = this.layerXattrs(e.xattrs);
        if (this.realDirs.has(rel)) {
          // Already a directory (an earlier entry or parent): keep it and its contents.
          if (xattrs.length > 0) {
            await this.settle();
            await this.setXattrs(abs, xattrs);
          }
        } else {
          await this.clear(rel, abs);
          if (this.batched) {
            await this.enqueue({ kind: 'dir', path: abs, xattrs });
          } else {
            await mkdir(abs, 0o700);
            await this.setXattrs(abs, xattrs);
          }
          this.realDirs.add(rel);
        }
        this.dirMeta.set(rel, meta(e));
        return;
      }
      case 'file': {
        if (this.batched && e.size <= GATHER_MAX) {
          const parts: Buffer[] = [];
          for await (const chunk of e.body) parts.push(chunk);
          const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
          await this.clear(rel, abs);
          await this.enqueue({ kind: 'file', path: abs, data, meta: meta(e), xattrs: this.layerXattrs(e.xattrs) });
          this.madeFiles.add(pathHash(rel));
          return;
        }
        await this.settle();
        await this.clear(rel, abs);
        this.madeFiles.add(pathHash(rel));
        const fh = await open(abs, WRITE_NEW, 0o600);
        try {
          for await (const chunk of e.body) await writeAll(fh, chunk);
          await this.chownWith(() => (this.batched ? fh.chown(e.uid, e.gid) : this.owners.chown(abs, e.uid, e.gid, { created: true })));
          if (this.batched) await fh.chmod(e.mode & 0o7777);
          else await this.owners.chmod(abs, e.mode & 0o7777, { type: 'file', created: true });
        } finally {
          await fh.close();
        }
        await this.setXattrs(abs, this.layerXattrs(e.xattrs));
        await utimes(abs, e.mtime, e.mtime);
        return;
      }
      case 'symlink': {
        await this.clear(rel, abs);
        this.madeFiles.add(pathHash(rel));
        if (this.batched) {
          await this.enqueue({ kind: 'symlink', path: abs, target: e.linkpath, meta: meta(e), xattrs: this.layerXattrs(e.xattrs) });
          return;
        }
        await this.settle();
        await symlink(e.linkpath, abs);
        await this.chownWith(() => this.owners.chown(abs, e.uid, e.gid, { created: true }));
        await this.setXattrs(abs, this.layerXattrs(e.xattrs));
        await lutimes(abs, e.mtime, e.mtime);
        return;
      }
      case 'link': {
        const target = cleanPath(e.linkpath);
        if (target.length === 0) throw invalidEntry(`${e.path}: hardlink to the root`);
        await this.settle();
        const targetAbs = await this.existingInside(target, e);
        if (target.join('/') === rel) return;
        await this.clear(rel, abs);
        this.madeFiles.add(pathHash(rel));
        await link(targetAbs, abs);
        return;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        await this.settle();
        await this.clear(rel, abs);
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
        this.madeFiles.add(pathHash(rel));
        await this.setMeta(abs, meta(e), true);
        await this.setXattrs(abs, this.layerXattrs(e.xattrs));
        return;
      }
    }
  }

  /** Applies the deferred directory metadata, deepest first; then everything is on disk. */
  async finish(): Promise<void> {
    const rels = [...this.dirMeta.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    for (const rel of rels) {
      const abs = rel === '' ? this.dest : join(this.dest, rel);
      const m = this.dirMeta.get(rel)!;
      if (this.batched) {
        await this.enqueue({ kind: 'meta', path: abs, meta: m, chmod: true });
      } else {
        // Only this pass gives directories owners: none carries one yet.
        await this.chownWith(() => this.owners.chown(abs, m.uid, m.gid, { created: true }));
        await this.owners.chmod(abs, m.mode & 0o7777, { type: 'dir', created: true });
        await utimes(abs, m.mtime, m.mtime);
      }
    }
    await this.settle();
  }

  /** Owner, mode (unless `chmodToo` is false) and times of a path made by a direct call; the queue is empty. */
  private async setMeta(abs: string, m: EntryMeta, chmodToo: boolean): Promise<void> {
    if (this.batched) {
      await this.enqueue({ kind: 'meta', path: abs, meta: m, chmod: chmodToo });
      await this.settle();
      return;
    }
    await this.chownWith(() => this.owners.chown(abs, m.uid, m.gid, { created: true }));
    if (chmodToo) await this.owners.chmod(abs, m.mode & 0o7777, { created: true });
    await utimes(abs, m.mtime, m.mtime);
  }

  /** After a failure: waits for the batch in flight (the caller is about to remove dest). */
  async stop(): Promise<void> {
    this.queue = [];
    await this.running?.catch(() => undefined);
  }

  private async enqueue(op: TreeOp): Promise<void> {
    this.queue.push(op);
    if (op.kind === 'file') this.queuedBytes += op.data.length;
    if (this.queue.length >= BATCH_OPS || this.queuedBytes >= BATCH_BYTES) await this.submit();
  }

  /** Starts the queued ops once the batch before them is done (its failure surfaces here). */
  private async submit(): Promise<void> {
    if (this.queue.length === 0) return;
    const ops = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    await this.running;
    const run = this.runBatch(ops);
    // Awaited by the next submit or settle; until then a failure must not count as unhandled.
    run.catch(() => undefined);
    this.running = run;
  }

  /** Every entry so far is on disk. */
  private async settle(): Promise<void> {
    await this.submit();
    const run = this.running;
    this.running = undefined;
    await run;
  }

  private async runBatch(ops: TreeOp[]): Promise<void> {
    const r = await applyTreeOps(ops);
    this.skipped.owners += r.ownersSkipped;
    this.skipped.xattrs += r.xattrsSkipped;
    if (!r.error) return;
    // Only paths this writer made can exist, and those go through clear(): something else
    // wrote into dest meanwhile.
    if (r.error.code === 'EEXIST') throw invalidEntry(`${ops[r.done]!.path} appeared while extracting (is another process writing there?)`);
    throw r.error;
  }

  /** Removes whatever an earlier entry put at `rel`, so the next creation finds the path free. */
  private async clear(rel: string, abs: string): Promise<void> {
    if (!this.realDirs.has(rel) && !this.madeFiles.has(pathHash(rel))) return;
    await this.settle();
    await this.remove(rel, abs);
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
    if (name === '' || name === '.' || name === '..') throw invalidEntry(`bad whiteout ${parts.join('/')}`);
    const rel = [...dirParts, name].join('/');
    const abs = join(this.dest, rel);
    await this.remove(rel, abs);
    await this.owners.whiteout(abs);
    this.madeFiles.add(pathHash(rel));
    // Owner and time too, so re-archiving an unpacked layer reproduces its diffID.
    await this.setMeta(abs, { uid: e.uid, gid: e.gid, mode: 0, mtime: e.mtime }, false);
  }

  /** Every parent of `parts` becomes (or must already be) a real directory inside dest. */
  private async ensureParents(parts: string[]): Promise<void> {
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (this.realDirs.has(rel)) continue;
      await this.settle();
      const abs = join(this.dest, rel);
      const st = await lstatIfExists(abs);
      if (st === undefined) {
        await mkdir(abs, 0o755);
        await chmod(abs, 0o755);
      } else if (!st.isDirectory()) {
        throw invalidEntry(`${parts.join('/')}: parent ${rel} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
      }
      this.realDirs.add(rel);
    }
  }

  /** A hardlink target: must already exist in dest, reached through real directories only. */
  private async existingInside(target: string[], e: TarEntry): Promise<string> {
    for (let i = 1; i < target.length; i++) {
      const rel = target.slice(0, i).join('/');
      if (this.realDirs.has(rel)) continue;
      const st = await lstatIfExists(join(this.dest, rel));
      if (!st?.isDirectory()) throw invalidEntry(`${e.path}: hardlink target ${e.linkpath} is not inside the layer`);
      this.realDirs.add(rel);
    }
    const abs = join(this.dest, ...target);
    const st = await lstatIfExists(abs);
    if (st === undefined || st.isDirectory()) throw invalidEntry(`${e.path}: hardlink target ${e.linkpath} is not a file in the layer`);
    return abs;
  }

  /** Clears the way for a new entry; never follows a symlink (rm removes the link itself). */
  private async remove(rel: string, abs: string): Promise<void> {
    if ((await lstatIfExists(abs)) === undefined) return;
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

  /**
   * The entry's xattrs minus the store's bookkeeping: a layer must not forge overlayfs metadata
   * (redirects, metacopy, opaque) in a lowerdir, nor owners or devices in an xattr store.
   */
  private layerXattrs(xattrs: Array<[string, Buffer]>): Array<[string, Buffer]> {
    return xattrs.filter(([name]) => !isBookkeepingXattr(name, this.owners.kind));
  }

  private async setXattrs(abs: string, xattrs: Array<[string, Buffer]>): Promise<void> {
    for (const [name, value] of xattrs) {
      try {
        await this.owners.setXattr(abs, name, value);
      } catch (err) {
        if (isRefused(err)) this.skipped.xattrs++;
        else throw err;
      }
    }
  }
}

function meta(e: TarEntry): EntryMeta {
  return { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
}

/** 32-bit FNV-1a over the UTF-16 code units of a path. */
function pathHash(rel: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < rel.length; i++) h = Math.imul(h ^ rel.charCodeAt(i), 0x01000193);
  return h >>> 0;
}


/** Path components of a tar name: leading `/` and `.` dropped, `..` refused. */
function cleanPath(name: string): string[] {
  if (name.includes('\0')) throw invalidEntry(`${JSON.stringify(name)}: NUL in name`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw invalidEntry(`${name}: path escapes the layer`);
  return parts;
}

function isRefused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPERM' || code === 'EACCES' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EINVAL';
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}
