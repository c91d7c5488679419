/**
 * Snapshots without overlayfs, for isolation modes that cannot mount (chroot, proot): the merged
 * view of a layer chain is materialized as a private copy (reflinks where the filesystem has
 * them, never a hardlink into a layer), and after the step the copy is compared with what was
 * materialized to write an upper dir in overlay form, so layerTar archives it to the very bytes
 * the overlay snapshot would have given.
 */
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { chmod, copyFile, link, lstat, lutimes, mkdir, readdir, readlink, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerWriterFor, type OwnerWriter } from '../layer/ownerWriter.js';
import { devMajor, devMinor, entryMeta, OWNER_XATTR, type Owner } from '../layer/ownerXattrs.js';
import type { StoreKind, XattrFlavor } from '../store/storeRoot.js';
import { lgetxattrs, lsetxattr, mknodRaw } from '../util/fsx.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../util/fileType.js';
import { lstatIfExists } from '../util/lstatIfExists.js';


interface BaselineEntry {
  ino: bigint;
  birthtimeNs: bigint;
  ctimeNs: bigint;
  dir: boolean;
  nlink: bigint;
  mtimeNs: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
}

/**
 * Removing another name of a hardlinked file moves the file's ctime (its link count dropped),
 * but overlayfs leaves such a lower file alone: only the removed name gets a whiteout.
 */
function onlyLostALink(base: BaselineEntry, st: BigIntStats): boolean {
  return st.nlink < base.nlink && st.mtimeNs === base.mtimeNs && st.mode === base.mode && st.uid === base.uid && st.gid === base.gid && st.size === base.size;
}

/** What the copy looked like right after materializing: (ino, ctime) says "untouched" for sure. */
export interface CopyBaseline {
  entries: Map<string, BaselineEntry>;
  /** Children names of every directory, for finding deletions. */
  children: Map<string, string[]>;
}

function kind(st: BigIntStats): bigint {
  return st.mode & S_IFMT;
}

function isOverlayXattr(name: string): boolean {
  return name.startsWith('user.overlay.') || name.startsWith('trusted.overlay.');
}

async function isOpaque(abs: string, flavor: XattrFlavor): Promise<boolean> {
  const xattrs = await lgetxattrs(abs);
  return xattrs.some(([k, v]) => k === `${flavor}.overlay.opaque` && v.toString() === 'y');
}

/**
 * Owner, mode, xattrs (overlay bookkeeping dropped) and times of `st` onto `dst`. In an xattr
 * store the owner is one of the xattrs, set before the mode (setting one needs write permission).
 */
async function copyMeta(dst: string, st: BigIntStats, xattrs: Array<[string, Buffer]>, owners: OwnerWriter): Promise<void> {
  const k = kind(st);
  const copied = xattrs.filter(([name]) => !isOverlayXattr(name));
  if (owners.kind === 'native') await owners.chown(dst, Number(st.uid), Number(st.gid));
  else for (const [name, value] of copied) await owners.setXattr(dst, name, value);
  // chown clears setuid/setgid, so the mode comes after it; symlinks have no mode of their own.
  if (k !== S_IFLNK) await chmod(dst, Number(st.mode & 0o7777n));
  if (owners.kind === 'native') for (const [name, value] of copied) await lsetxattr(dst, name, value);
  await lutimes(dst, nsToSeconds(st.atimeNs), nsToSeconds(st.mtimeNs));
}

function nsToSeconds(ns: bigint): number {
  return Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
}

/**
 * Copies the merged view of `lowerdirs` (top first, overlay form: 0/0 char devices are
 * whiteouts, `<flavor>.overlay.opaque` hides what is below a directory) into the empty
 * directory `target`, and returns the baseline to diff against after the step.
 */
export async function materializeLayers(
  lowerdirs: readonly string[],
  target: string,
  opts: { flavor: XattrFlavor; storeKind?: StoreKind; signal?: AbortSignal; keep?: ReadonlySet<string> },
): Promise<CopyBaseline> {
  const kindOfStore = opts.storeKind ?? 'native';
  const owners = ownerWriterFor(kindOfStore);
  // Hardlinks inside the chain stay hardlinks inside the copy (never links into a layer dir).
  const linked = new Map<string, string>();
  // `keep` (isolation none: `target` is `/`): paths left as they are, and the directories above
  // them, which are already there; the image's entries at those paths are not copied.
  const keep = opts.keep ?? new Set<string>();
  const keepAncestors = ancestorsOf(keep);

  async function copyDir(rel: string, dirLayers: readonly string[]): Promise<void> {
    opts.signal?.throwIfAborted();
    const first = new Map<string, { layer: number; st: BigIntStats }>();
    for (let i = 0; i < dirLayers.length; i++) {
      for (const name of await readdir(join(dirLayers[i]!, rel))) {
        if (first.has(name)) continue;
        const st = await lstat(join(dirLayers[i]!, rel, name), { bigint: true });
        first.set(name, { layer: i, st });
      }
    }
    for (const [name, { layer, st }] of first) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const src = join(dirLayers[layer]!, childRel);
      const dst = join(target, childRel);
      const k = kind(st);
      if (k === S_IFSOCK || keep.has(childRel) || (k !== S_IFDIR && keepAncestors.has(childRel))) continue;
      const xattrs = await owners.readXattrs(src);
      if (entryMeta(kindOfStore, st, xattrs).whiteout) continue;
      if (k === S_IFDIR) {
        // The directory's own layer and, unless it is opaque, the directories of the same path below it.
        const chain = [dirLayers[layer]!];
        if (!(await isOpaque(src, opts.flavor))) {
          for (let j = layer + 1; j < dirLayers.length; j++) {
            const below = await lstatIfExists(join(dirLayers[j]!, childRel), { bigint: true });
            if (below === undefined) continue;
            if (kind(below) !== S_IFDIR) break;
            chain.push(dirLayers[j]!);
            if (await isOpaque(join(dirLayers[j]!, childRel), opts.flavor)) break;
          }
        }
        await mkdir(dst, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST' || !keepAncestors.has(childRel)) throw err;
        });
        await copyDir(childRel, chain);
        // After the children, whose creation moved the directory's mtime.
        await copyMeta(dst, st, xattrs, owners);
        continue;
      }
      if (k === S_IFREG && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const seen = linked.get(key);
        if (seen !== undefined) {
          await link(seen, dst);
          continue;
        }
        linked.set(key, dst);
      }
      if (k === S_IFREG) await copyFile(src, dst, constants.COPYFILE_FICLONE);
      else if (k === S_IFLNK) await symlink(await readlink(src), dst);
      else await mknodRaw(dst, Number(st.mode), devMajor(st.rdev), devMinor(st.rdev));
      await copyMeta(dst, st, xattrs, owners);
    }
  }

  if (lowerdirs.length > 0) await copyDir('', lowerdirs);
  return takeBaseline(target, keep);
}

/** Every proper ancestor of the relative paths (`a/b/c` → `a`, `a/b`). */
export function ancestorsOf(paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('/'));
  }
  return out;
}

async function takeBaseline(root: string, keep: ReadonlySet<string>): Promise<CopyBaseline> {
  const baseline: CopyBaseline = { entries: new Map(), children: new Map() };
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(join(root, rel))).filter((name) => !keep.has(rel === '' ? name : `${rel}/${name}`));
    baseline.children.set(rel, names);
    for (const name of names) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, childRel), { bigint: true });
      const dir = kind(st) === S_IFDIR;
      baseline.entries.set(childRel, { ino: st.ino, birthtimeNs: st.birthtimeNs, ctimeNs: st.ctimeNs, dir, nlink: st.nlink, mtimeNs: st.mtimeNs, mode: st.mode, uid: st.uid, gid: st.gid, size: st.size });
      if (dir) await walk(childRel);
    }
  }
  await walk('');
  return baseline;
}

export interface DiffOptions {
  flavor: XattrFlavor;
  storeKind?: StoreKind;
  /**
   * xattr store: the owner of entries the step created without recording one (a RUN as a
   * non-root USER under proot creates them as the real user); absent: 0:0.
   */
  newOwner?: Owner;
  /** Paths (relative, e.g. `dev`, `etc/hosts`) left out entirely: what the overlay sandbox mounts over. */
  exclude?: ReadonlySet<string>;
  signal?: AbortSignal;
}

/**
 * Writes what changed in `root` since `baseline` into the empty `upperdir`, in overlay form:
 * new and changed entries (moved out of `root`, which is consumed), unchanged parents of changed
 * entries recreated with their metadata, deletions as 0/0 char devices, a directory that
 * replaced another one marked opaque. An entry whose inode and ctime are both unchanged is
 * untouched (every write, chmod, chown, xattr or rename moves ctime; the birth time tells a
 * reused inode number apart), so only changed
 * subtrees are looked at closely, as overlayfs' copy-up would have recorded them.
 */
export async function diffCopy(root: string, baseline: CopyBaseline, upperdir: string, opts: DiffOptions): Promise<void> {
  const owners = ownerWriterFor(opts.storeKind ?? 'native');
  const newOwner = owners.kind === 'xattr' && opts.newOwner && (opts.newOwner.uid !== 0 || opts.newOwner.gid !== 0) ? opts.newOwner : undefined;
  const move = crossDeviceMover(owners);
  /** Returns true when anything under `rel` went into the upper dir. */
  async function diffDir(rel: string): Promise<boolean> {
    opts.signal?.throwIfAborted();
    let changed = false;
    const names = await readdir(join(root, rel));
    const present = new Set(names);
    const upperHere = join(upperdir, rel);
    const ensureUpper = async (): Promise<void> => {
      if (!changed) await mkdir(upperHere, { recursive: true, mode: 0o700 });
      changed = true;
    };
    for (const name of names.sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      if (opts.exclude?.has(childRel)) continue;
      const abs = join(root, childRel);
      const st = await lstat(abs, { bigint: true });
      const base = baseline.entries.get(childRel);
      const isDir = kind(st) === S_IFDIR;
      // Inode numbers are reused at once (rm -rf d && mkdir d can give d its old number back);
      // the birth time tells the new inode from the old one.
      if (base !== undefined && base.ino === st.ino && base.birthtimeNs === st.birthtimeNs && base.dir === isDir) {
        if (isDir) {
          // A step may have narrowed a directory's mode; its entries are still moved out of it.
          if (owners.kind === 'xattr' && (st.mode & 0o700n) !== 0o700n) await chmod(abs, Number(st.mode & 0o7777n) | 0o700);
          const below = await diffDir(childRel);
          if (below || base.ctimeNs !== st.ctimeNs) {
            await ensureUpper();
            const dst = join(upperdir, childRel);
            if (!below) await mkdir(dst, { mode: 0o700 });
            await copyMeta(dst, st, await owners.readXattrs(abs), owners);
            await owners.settleMode(dst);
          }
        } else if (base.ctimeNs !== st.ctimeNs && !onlyLostALink(base, st)) {
          await ensureUpper();
          await move(abs, join(upperdir, childRel));
          await owners.settleMode(join(upperdir, childRel));
        }
        continue;
      }
      // New, or replaced by another inode: the whole entry is the step's.
      await ensureUpper();
      const dst = join(upperdir, childRel);
      await move(abs, dst);
      if (owners.kind === 'xattr') await settleNew(dst, newOwner, owners);
      if (isDir && base !== undefined) await lsetxattr(dst, `${opts.flavor}.overlay.opaque`, Buffer.from('y'));
    }
    for (const name of baseline.children.get(rel) ?? []) {
      if (present.has(name) || opts.exclude?.has(rel === '' ? name : `${rel}/${name}`)) continue;
      await ensureUpper();
      await owners.whiteout(join(upperdir, rel === '' ? name : `${rel}/${name}`));
    }
    return changed;
  }
  await diffDir('');
}

/**
 * xattr store: every entry under `path` (itself included), which a step created, gets its mode
 * recorded (settleMode) and, when it has no owner record, `owner`.
 */
async function settleNew(path: string, owner: Owner | undefined, owners: OwnerWriter): Promise<void> {
  const st = await lstat(path);
  if (!st.isFile() && !st.isDirectory()) return;
  // First: it makes a directory the step left unreadable readable again.
  await owners.settleMode(path);
  if (owner !== undefined && !(await owners.readXattrs(path)).some(([name]) => name === OWNER_XATTR)) await owners.chown(path, owner.uid, owner.gid);
  if (st.isDirectory()) for (const name of await readdir(path)) await settleNew(join(path, name), owner, owners);
}

/**
 * rename, or where `root` is another mount than the upper dir (isolation none: `/`), a copy with
 * owner, mode, xattrs and times; names of one inode stay hardlinks of one copy.
 */
function crossDeviceMover(owners: OwnerWriter): (src: string, dst: string) => Promise<void> {
  const linked = new Map<string, string>();
  async function copyTree(src: string, dst: string): Promise<void> {
    const st = await lstat(src, { bigint: true });
    const k = kind(st);
    if (k === S_IFSOCK) return;
    if (k === S_IFDIR) {
      await mkdir(dst, { mode: 0o700 });
      for (const name of await readdir(src)) await copyTree(join(src, name), join(dst, name));
    } else if (k !== S_IFLNK && st.nlink > 1n && linked.has(`${st.dev}:${st.ino}`)) {
      await link(linked.get(`${st.dev}:${st.ino}`)!, dst);
      return;
    } else {
      if (k === S_IFREG) await copyFile(src, dst, constants.COPYFILE_FICLONE);
      else if (k === S_IFLNK) await symlink(await readlink(src), dst);
      else await mknodRaw(dst, Number(st.mode), devMajor(st.rdev), devMinor(st.rdev));
      if (st.nlink > 1n && k !== S_IFLNK) linked.set(`${st.dev}:${st.ino}`, dst);
    }
    await copyMeta(dst, st, await owners.readXattrs(src), owners);
  }
  return async (src, dst) => {
    try {
      await rename(src, dst);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyTree(src, dst);
    }
  };
}
