/**
 * The one place that gives a file an owner, or makes a whiteout or a device node, in a layer dir
 * or a snapshot: real lchown/mknod in a `native` store, `user.*` xattrs in an `xattr` store
 * (ownerXattrs.ts). Every writer (layer extraction, copy snapshots, COPY/ADD, WORKDIR) goes
 * through it, so the readers (layerTar, materializeLayers) always find what they expect.
 */
import { constants } from 'node:fs';
import { chmod, lchown, lstat, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lgetxattrs, lsetxattr, mknodChar, mknodRaw } from '../util/fsx.js';
import { decodeMode, DEVICE_XATTR, diskMode, encodeDevice, encodeMode, encodeOwner, MODE_XATTR, OWNER_XATTR, WHITEOUT_XATTR, WHITEOUTS_XATTR, type Device, type EntryType } from './ownerXattrs.js';
import type { StoreKind } from '../store/storeRoot.js';

export interface OwnerWriter {
  readonly kind: StoreKind;
  /**
   * Gives `path` (not followed) the owner uid:gid. `created`: the entry was just made by this
   * process and carries no owner yet, so 0:0 needs no write in an xattr store. In an xattr store a
   * symlink, fifo or socket cannot carry a `user.*` xattr: its owner stays 0:0.
   */
  chown(path: string, uid: number, gid: number, opts?: { created?: boolean }): Promise<void>;
  /** Creates the whiteout `path` (owner 0:0; mode 0, or 0600 in an xattr store so its xattrs stay readable). */
  whiteout(path: string): Promise<void>;
  /** Creates the device node `path` with permission bits `mode`. */
  device(path: string, device: Device, mode: number): Promise<void>;
  /** Sets an xattr; in an xattr store also on a file whose mode denies its owner writing. */
  setXattr(path: string, name: string, value: Buffer): Promise<void>;
  /** All xattrs of `path`; in an xattr store also of a file whose mode denies its owner reading. */
  readXattrs(path: string): Promise<Array<[string, Buffer]>>;
  /**
   * Gives `path` the mode. An xattr store keeps files u+rw and directories u+rwx on disk (its
   * owner has no DAC override: it must read them into layers, copy and remove them) and records
   * a narrower mode in `user.tsbuild.mode`. `type` is looked up when not given; `created`: no
   * mode record yet.
   */
  chmod(path: string, mode: number, opts?: { type?: EntryType; created?: boolean }): Promise<void>;
  /** xattr store: after a RUN or COPY left `path` with some mode on disk, records it as above. */
  settleMode(path: string): Promise<void>;
}

const { S_IFBLK, S_IFCHR } = constants;

/**
 * Sets a `user.*` xattr on a file the real user owns. The kernel asks for write permission even
 * of the owner (a 0444 file from the context, a 0555 directory), so the mode is lifted for it.
 */
async function setOwnXattr(path: string, name: string, value: Buffer): Promise<void> {
  try {
    await lsetxattr(path, name, value);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    const st = await lstat(path);
    await chmod(path, (st.mode & 0o7777) | (st.isDirectory() ? 0o300 : 0o200));
    try {
      await lsetxattr(path, name, value);
    } finally {
      await chmod(path, st.mode & 0o7777);
    }
  }
}

/** lgetxattrs for the real user's own file: reading `user.*` needs read permission, even of the owner. */
async function readOwnXattrs(path: string): Promise<Array<[string, Buffer]>> {
  try {
    return await lgetxattrs(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    const st = await lstat(path);
    await chmod(path, (st.mode & 0o7777) | 0o400);
    try {
      return await lgetxattrs(path);
    } finally {
      await chmod(path, st.mode & 0o7777);
    }
  }
}

const NATIVE: OwnerWriter = {
  kind: 'native',
  chown: (path, uid, gid) => lchown(path, uid, gid),
  whiteout: (path) => mknodChar(path, 0, 0, 0),
  device: (path, d, mode) => mknodRaw(path, (d.type === 'char' ? S_IFCHR : S_IFBLK) | (mode & 0o7777), d.major, d.minor),
  setXattr: (path, name, value) => lsetxattr(path, name, value),
  readXattrs: (path) => lgetxattrs(path),
  chmod: (path, mode) => chmod(path, mode),
  settleMode: async () => undefined,
};

async function entryType(path: string): Promise<EntryType> {
  const st = await lstat(path);
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
}

/** Mode `mode` for `path` in an xattr store: widened on disk where its owner needs it, the real one recorded. */
async function chmodRecorded(path: string, mode: number, type: EntryType, hadRecord: boolean): Promise<void> {
  const disk = diskMode(type, mode);
  await chmod(path, disk);
  // The record goes on after the chmod: setting a user.* xattr needs write permission.
  if (disk !== mode) await lsetxattr(path, MODE_XATTR, encodeMode(mode, disk));
  else if (hadRecord) await lsetxattr(path, MODE_XATTR, encodeMode(mode, mode));
}

/** An empty regular file carrying the xattr `name`, then given `mode` (xattr first: it needs write permission). */
async function markedFile(path: string, name: string, value: Buffer, mode: number): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  await fh.close();
  await lsetxattr(path, name, value);
  await chmodRecorded(path, mode & 0o7777, 'file', false);
}

const XATTR: OwnerWriter = {
  kind: 'xattr',
  async chown(path, uid, gid, opts) {
    if (opts?.created && uid === 0 && gid === 0) return;
    try {
      await setOwnXattr(path, OWNER_XATTR, encodeOwner(uid, gid));
    } catch (err) {
      // user.* xattrs exist only on regular files and directories (EPERM elsewhere).
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
      const st = await lstat(path);
      if (st.isFile() || st.isDirectory()) throw err;
    }
  },
  async whiteout(path) {
    await markedFile(path, WHITEOUT_XATTR, Buffer.alloc(0), 0o600);
    await setOwnXattr(dirname(path), WHITEOUTS_XATTR, Buffer.alloc(0));
  },
  async device(path, d, mode) {
    await markedFile(path, DEVICE_XATTR, encodeDevice(d), mode);
  },
  setXattr: setOwnXattr,
  readXattrs: readOwnXattrs,
  async chmod(path, mode, opts) {
    const type = opts?.type ?? (await entryType(path));
    const hadRecord = opts?.created ? false : (await readOwnXattrs(path)).some(([name]) => name === MODE_XATTR);
    await chmodRecorded(path, mode & 0o7777, type, hadRecord);
  },
  async settleMode(path) {
    const st = await lstat(path);
    if (!st.isFile() && !st.isDirectory()) return;
    const current = st.mode & 0o7777;
    const record = (await readOwnXattrs(path)).find(([name]) => name === MODE_XATTR)?.[1];
    if (record !== undefined && decodeMode(record).disk === current) return;
    if (record === undefined && diskMode(st.isDirectory() ? 'dir' : 'file', current) === current) return;
    await chmodRecorded(path, current, st.isDirectory() ? 'dir' : 'file', record !== undefined);
  },
};

export function ownerWriterFor(kind: StoreKind): OwnerWriter {
  return kind === 'xattr' ? XATTR : NATIVE;
}
