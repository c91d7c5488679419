/**
 * The xattr store kind's on-disk format, for a non-root user outside any user namespace (proot in
 * an unprivileged container): it cannot chown, and cannot mknod the 0/0 char devices that mark
 * whiteouts in overlay form, so what a layer dir would hold in owners and special files is
 * recorded in `user.*` xattrs instead (see src/layer/README.md). Pure: encoding and reading only.
 */
import type { StoreKind } from '../store/storeRoot.js';
import { S_IFBLK, S_IFCHR, S_IFMT, S_IFREG } from '../util/fileType.js';

/** umoci's rootless owner record (`umoci unpack --rootless` writes the same). */
export const OWNER_XATTR = 'user.rootlesscontainers';
/** overlayfs' xattr whiteout (Linux ≥ 6.7): an empty regular file carrying it is a whiteout. */
export const WHITEOUT_XATTR = 'user.overlay.whiteout';
/** Set on a directory that holds xattr whiteouts, as overlayfs expects. */
export const WHITEOUTS_XATTR = 'user.overlay.whiteouts';
/** A char or block device, as an empty regular file: "c MAJOR MINOR" or "b MAJOR MINOR". */
export const DEVICE_XATTR = 'user.tsbuild.device';
/**
 * The real mode of an entry whose mode on disk was widened so its owner (the real user, who has
 * no DAC override) can read it and, for a directory, list, enter and write it: "REAL DISK" in
 * octal. It holds while the mode on disk is still DISK; a chmod since then wins.
 */
export const MODE_XATTR = 'user.tsbuild.mode';

export type EntryType = 'dir' | 'file' | 'other';

/** The mode an xattr store keeps on disk for `mode`: files u+rw, directories u+rwx. */
export function diskMode(type: EntryType, mode: number): number {
  return type === 'dir' ? mode | 0o700 : type === 'file' ? mode | 0o600 : mode;
}

export function encodeMode(real: number, disk: number): Buffer {
  return Buffer.from(`${real.toString(8)} ${disk.toString(8)}`);
}

export function decodeMode(value: Buffer): { real: number; disk: number } {
  const m = /^([0-7]{1,5}) ([0-7]{1,5})$/.exec(value.toString('latin1'));
  if (m === null) throw new Error(`malformed ${MODE_XATTR} ${JSON.stringify(value.toString('latin1'))}`);
  return { real: parseInt(m[1]!, 8) & 0o7777, disk: parseInt(m[2]!, 8) & 0o7777 };
}

export interface Owner {
  uid: number;
  gid: number;
}

// The owner is a protobuf message { uint32 uid = 1; uint32 gid = 2; }: proto3 leaves zero fields
// out, so 0:0 is the empty value; 0xFFFFFFFF means "unchanged" to umoci and reads as 0 here.
const UNCHANGED = 0xffffffff;

function pushVarint(out: number[], value: number): void {
  let v = value >>> 0;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

export function encodeOwner(uid: number, gid: number): Buffer {
  const out: number[] = [];
  if (uid !== 0) {
    out.push(0x08);
    pushVarint(out, uid);
  }
  if (gid !== 0) {
    out.push(0x10);
    pushVarint(out, gid);
  }
  return Buffer.from(out);
}

/** The owner in `value`; unknown fields are skipped, a malformed value throws (the caller names the file). */
export function decodeOwner(value: Buffer): Owner {
  const owner: Owner = { uid: 0, gid: 0 };
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= value.length || shift > 63n) throw new Error('truncated varint');
      const b = value[at++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (at < value.length) {
    const key = Number(varint());
    const field = key >>> 3;
    switch (key & 7) {
      case 0: {
        // uint32 takes the low 32 bits of the varint, as protobuf does.
        const v = Number(varint() & 0xffffffffn);
        const id = v === UNCHANGED ? 0 : v;
        if (field === 1) owner.uid = id;
        else if (field === 2) owner.gid = id;
        break;
      }
      case 1:
        at += 8;
        break;
      case 2: {
        const length = Number(varint());
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
    if (at > value.length) throw new Error('truncated field');
  }
  return owner;
}

export interface Device {
  type: 'char' | 'block';
  major: number;
  minor: number;
}

export function encodeDevice(d: Device): Buffer {
  return Buffer.from(`${d.type === 'char' ? 'c' : 'b'} ${d.major} ${d.minor}`);
}

export function decodeDevice(value: Buffer): Device {
  const m = /^([cb]) (\d{1,10}) (\d{1,10})$/.exec(value.toString('latin1'));
  if (m === null) throw new Error(`malformed ${DEVICE_XATTR} ${JSON.stringify(value.toString('latin1'))}`);
  return { type: m[1] === 'c' ? 'char' : 'block', major: Number(m[2]), minor: Number(m[3]) };
}

/** xattrs that are the store's own bookkeeping: never archived into a layer, never taken from one. */
export function isBookkeepingXattr(name: string, kind: StoreKind): boolean {
  if (name.startsWith('user.overlay.') || name.startsWith('trusted.overlay.')) return true;
  return kind === 'xattr' && (name === OWNER_XATTR || name.startsWith('user.tsbuild.'));
}

/** What an entry of a layer dir (or a copy snapshot) stands for in a layer tar. */
export interface EntryMeta {
  uid: number;
  gid: number;
  /** Permission bits (with setuid, setgid, sticky). */
  mode: number;
  whiteout: boolean;
  device?: Device;
}

interface StatLike {
  mode: bigint;
  uid: bigint;
  gid: bigint;
  rdev: bigint;
}

// glibc's gnu_dev_major/minor for the 64-bit dev_t encoding.
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}

export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/**
 * Owner, whiteout and device of an entry from its lstat and xattrs, for either store kind.
 * Throws on a malformed owner or device record.
 */
export function entryMeta(kind: StoreKind, st: StatLike, xattrs: ReadonlyArray<readonly [string, Buffer]>): EntryMeta {
  const type = st.mode & S_IFMT;
  if (kind === 'native') {
    const meta: EntryMeta = { uid: Number(st.uid), gid: Number(st.gid), mode: Number(st.mode & 0o7777n), whiteout: type === S_IFCHR && st.rdev === 0n };
    if (!meta.whiteout && (type === S_IFCHR || type === S_IFBLK)) meta.device = { type: type === S_IFCHR ? 'char' : 'block', major: devMajor(st.rdev), minor: devMinor(st.rdev) };
    return meta;
  }
  let owner: Owner = { uid: 0, gid: 0 };
  let whiteout = false;
  let device: Device | undefined;
  let mode = Number(st.mode & 0o7777n);
  for (const [name, value] of xattrs) {
    if (name === OWNER_XATTR) owner = decodeOwner(value);
    else if (name === MODE_XATTR) {
      const recorded = decodeMode(value);
      if (recorded.disk === Number(st.mode & 0o7777n)) mode = recorded.real;
    }
    else if (type === S_IFREG && name === WHITEOUT_XATTR) whiteout = true;
    else if (type === S_IFREG && name === DEVICE_XATTR) device = decodeDevice(value);
  }
  return { ...owner, mode, whiteout, ...(device && !whiteout ? { device } : {}) };
}
