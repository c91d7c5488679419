import { constants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeDevice, decodeOwner, encodeDevice, encodeOwner, entryMeta, isBookkeepingXattr } from '../../../src/layer/ownerXattrs.js';

const REG = BigInt(constants.S_IFREG | 0o644);
const CHR = BigInt(constants.S_IFCHR);
const LNK = BigInt(constants.S_IFLNK | 0o777);

describe('owner xattr codec (umoci rootlesscontainers protobuf)', () => {
  it('encodes as proto3 does: zero fields left out, varints little-endian base 128', () => {
    expect(encodeOwner(1000, 1000).toString('hex')).toBe('08e80710e807');
    expect(encodeOwner(0, 0).length).toBe(0);
    expect(encodeOwner(0, 5).toString('hex')).toBe('1005');
    expect(encodeOwner(65534, 0).toString('hex')).toBe('08feff03');
  });

  it('decodes what it encodes, the empty value as 0:0, and "unchanged" (0xFFFFFFFF) as 0', () => {
    for (const [uid, gid] of [[0, 0], [1000, 1000], [1, 0], [0, 4294967294], [2147483648, 70000]] as const) {
      expect(decodeOwner(encodeOwner(uid, gid))).toEqual({ uid, gid });
    }
    expect(decodeOwner(Buffer.alloc(0))).toEqual({ uid: 0, gid: 0 });
    expect(decodeOwner(Buffer.from('08ffffffff0f10e807', 'hex'))).toEqual({ uid: 0, gid: 1000 });
  });

  it('skips unknown fields and refuses a truncated value', () => {
    // field 3 (varint 7), field 4 (length-delimited "ab"), then uid 5
    expect(decodeOwner(Buffer.from('1807220261620805', 'hex'))).toEqual({ uid: 5, gid: 0 });
    expect(() => decodeOwner(Buffer.from('08e8', 'hex'))).toThrow('truncated varint');
    expect(() => decodeOwner(Buffer.from('2205ab', 'hex'))).toThrow('truncated field');
  });
});

describe('device xattr codec', () => {
  it('is "c MAJOR MINOR" or "b MAJOR MINOR"', () => {
    expect(encodeDevice({ type: 'char', major: 1, minor: 3 }).toString()).toBe('c 1 3');
    expect(decodeDevice(Buffer.from('b 8 16'))).toEqual({ type: 'block', major: 8, minor: 16 });
    expect(() => decodeDevice(Buffer.from('x 1 2'))).toThrow('malformed user.tsbuild.device');
  });
});

describe('entryMeta', () => {
  const st = (mode: bigint, uid = 1000n, gid = 1000n, rdev = 0n) => ({ mode, uid, gid, rdev });

  it('native: owner from lstat, 0/0 char devices are whiteouts, other devices keep their numbers', () => {
    expect(entryMeta('native', st(REG, 5n, 6n), [])).toEqual({ uid: 5, gid: 6, mode: 0o644, whiteout: false });
    expect(entryMeta('native', st(CHR, 0n, 0n, 0n), []).whiteout).toBe(true);
    expect(entryMeta('native', st(CHR, 0n, 0n, 0x103n), []).device).toEqual({ type: 'char', major: 1, minor: 3 });
  });

  it('xattr: the real owner is ignored, no record is 0:0, whiteouts and devices are marked regular files', () => {
    expect(entryMeta('xattr', st(REG), [])).toEqual({ uid: 0, gid: 0, mode: 0o644, whiteout: false });
    expect(entryMeta('xattr', st(REG), [['user.rootlesscontainers', encodeOwner(33, 44)]])).toEqual({ uid: 33, gid: 44, mode: 0o644, whiteout: false });
    expect(entryMeta('xattr', st(REG), [['user.overlay.whiteout', Buffer.alloc(0)]]).whiteout).toBe(true);
    expect(entryMeta('xattr', st(REG), [['user.tsbuild.device', Buffer.from('c 5 0')]]).device).toEqual({ type: 'char', major: 5, minor: 0 });
    // Only a regular file can be a whiteout or a device; a symlink is just 0:0.
    expect(entryMeta('xattr', st(LNK), [['user.overlay.whiteout', Buffer.alloc(0)]])).toEqual({ uid: 0, gid: 0, mode: 0o777, whiteout: false });
  });

  it('xattr: a recorded mode holds while the mode on disk is the one recorded with it', () => {
    const rec: [string, Buffer] = ['user.tsbuild.mode', Buffer.from('0 600')];
    expect(entryMeta('xattr', st(BigInt(constants.S_IFREG | 0o600)), [rec]).mode).toBe(0);
    // chmod'ed since: the mode on disk wins
    expect(entryMeta('xattr', st(BigInt(constants.S_IFREG | 0o640)), [rec]).mode).toBe(0o640);
  });

  it('bookkeeping xattrs: overlay always, owner and device records only in an xattr store', () => {
    expect(isBookkeepingXattr('user.overlay.opaque', 'native')).toBe(true);
    expect(isBookkeepingXattr('trusted.overlay.origin', 'xattr')).toBe(true);
    expect(isBookkeepingXattr('user.rootlesscontainers', 'xattr')).toBe(true);
    expect(isBookkeepingXattr('user.tsbuild.device', 'xattr')).toBe(true);
    expect(isBookkeepingXattr('user.rootlesscontainers', 'native')).toBe(false);
    expect(isBookkeepingXattr('security.capability', 'xattr')).toBe(false);
  });
});
