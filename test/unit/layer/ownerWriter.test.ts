import { lstat, mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownerWriterFor } from '../../../src/layer/ownerWriter.js';
import { lgetxattrs } from '../../../src/util/fsx.js';
import { makeTempDir } from '../../helpers/tmp.js';

async function xattrs(path: string): Promise<Record<string, string>> {
  return Object.fromEntries((await lgetxattrs(path)).map(([k, v]) => [k, v.toString('hex')]));
}

describe('ownerWriterFor', () => {
  it('xattr: records the owner instead of changing it, 0:0 on a new entry costs nothing, symlinks stay 0:0', async () => {
    const dir = await makeTempDir('tsbuild-owner');
    const w = ownerWriterFor('xattr');
    const file = join(dir, 'f');
    await writeFile(file, 'x');
    const before = await lstat(file);
    await w.chown(file, 1000, 1000);
    expect(await xattrs(file)).toEqual({ 'user.rootlesscontainers': '08e80710e807' });
    expect((await lstat(file)).uid).toBe(before.uid);
    // Back to root: the empty value, not a missing one (a RUN's new files would otherwise get its USER).
    await w.chown(file, 0, 0);
    expect(await xattrs(file)).toEqual({ 'user.rootlesscontainers': '' });
    const fresh = join(dir, 'fresh');
    await writeFile(fresh, '');
    await w.chown(fresh, 0, 0, { created: true });
    expect(await xattrs(fresh)).toEqual({});
    await symlink('f', join(dir, 'l'));
    await expect(w.chown(join(dir, 'l'), 5, 5)).resolves.toBeUndefined();
    // A read-only file still gets its record (the mode is lifted for the write and restored).
    const ro = join(dir, 'ro');
    await writeFile(ro, 'r');
    await chmod(ro, 0o444);
    await w.chown(ro, 7, 7);
    expect(await xattrs(ro)).toEqual({ 'user.rootlesscontainers': '08071007' });
    expect((await lstat(ro)).mode & 0o7777).toBe(0o444);
  });

  it('xattr: whiteouts and devices are empty regular files with overlayfs\' and our xattr', async () => {
    const dir = await makeTempDir('tsbuild-owner');
    const w = ownerWriterFor('xattr');
    await mkdir(join(dir, 'd'));
    await w.whiteout(join(dir, 'd', 'gone'));
    const st = await lstat(join(dir, 'd', 'gone'));
    expect(st.isFile() && st.size === 0).toBe(true);
    expect(await xattrs(join(dir, 'd', 'gone'))).toEqual({ 'user.overlay.whiteout': '' });
    expect(await xattrs(join(dir, 'd'))).toEqual({ 'user.overlay.whiteouts': '' });
    await w.device(join(dir, 'null'), { type: 'char', major: 1, minor: 3 }, 0o666);
    expect((await lstat(join(dir, 'null'))).mode & 0o7777).toBe(0o666);
    expect(await xattrs(join(dir, 'null'))).toEqual({ 'user.tsbuild.device': Buffer.from('c 1 3').toString('hex') });
  });

  it('xattr: a mode that would lock the real user out is widened on disk and recorded; a later chmod is settled', async () => {
    const dir = await makeTempDir('tsbuild-owner');
    const w = ownerWriterFor('xattr');
    const f = join(dir, 'f');
    await writeFile(f, 'x');
    await w.chmod(f, 0, { created: true });
    expect((await lstat(f)).mode & 0o7777).toBe(0o600);
    expect(await xattrs(f)).toEqual({ 'user.tsbuild.mode': Buffer.from('0 600').toString('hex') });
    await mkdir(join(dir, 'd'));
    await w.chmod(join(dir, 'd'), 0o555);
    expect((await lstat(join(dir, 'd'))).mode & 0o7777).toBe(0o755);
    // A step chmods the file again: the mode on disk is the real one now.
    await chmod(f, 0o640);
    await w.settleMode(f);
    expect(await xattrs(f)).toEqual({ 'user.tsbuild.mode': Buffer.from('640 640').toString('hex') });
    await chmod(f, 0o400);
    await w.settleMode(f);
    expect((await lstat(f)).mode & 0o7777).toBe(0o600);
    expect(await xattrs(f)).toEqual({ 'user.tsbuild.mode': Buffer.from('400 600').toString('hex') });
  });

  it('native: a real lchown and a 0/0 char device', async () => {
    const dir = await makeTempDir('tsbuild-owner');
    const w = ownerWriterFor('native');
    await writeFile(join(dir, 'f'), 'x');
    await w.chown(join(dir, 'f'), 1234, 5678);
    expect(await lstat(join(dir, 'f'))).toMatchObject({ uid: 1234, gid: 5678 });
    await w.whiteout(join(dir, 'gone'));
    const st = await lstat(join(dir, 'gone'));
    expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
  });
});
