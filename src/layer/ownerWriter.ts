/**
 * The one place that gives a file an owner, or makes a whiteout or a device node, in a layer dir
 * or a snapshot: real lchown/mknod in a `native` store, `user.*` xattrs in an `xattr` store
 * (ownerXattrs.ts). Every writer (layer extraction, copy snapshots, COPY/ADD, WORKDIR) goes
 * through it, so the readers (layerTar, materializeLayers) always find what they expect.
 */
import { chmod, lchown, lstat, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lgetxattrs, lsetxattr, mknodChar, mknodRaw } from '../util/fsx.js';
import { DEVICE_XATTR, encodeDevice, encodeOwner, OWNER_XATTR, WHITEOUT_XATTR, WHITEOUTS_XATTR, type Device, type StoreKind } from './ownerXattrs.js';

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
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

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
};

/** An empty regular file carrying the xattr `name`, then given `mode` (xattr first: it needs write permission). */
async function markedFile(path: string, name: string, value: Buffer, mode: number): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  await fh.close();
  await lsetxattr(path, name, value);
  await chmod(path, mode & 0o7777);
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
};

export function ownerWriterFor(kind: StoreKind): OwnerWriter {
  return kind === 'xattr' ? XATTR : NATIVE;
}
