/**
 * copyFiles' per-file metadata on a tree copy (the new-file fast path and the replace path):
 * mode bits including setuid after a chown, owner, mtime, and a symlink at the destination
 * replaced rather than written through. Needs root (chown to 1000).
 */
import { chmod, lstat, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../../helpers/tmp.js';
import { copyTreeAs1000 } from './copyTreeAs1000.js';

describe('copyFiles metadata', () => {
  it('keeps modes (setuid too) and mtimes, sets the owner, and replaces existing files and symlinks', async () => {
    const src = await makeTempDir('tsbuild-copymeta-src');
    const dest = await makeTempDir('tsbuild-copymeta-dest');
    const outside = await makeTempDir('tsbuild-copymeta-outside');
    await mkdir(join(src, 'tree', 'sub'), { recursive: true });
    const modes: Record<string, number> = { suid: 0o4755, sgid: 0o2750, plain: 0o640, exec: 0o755, 'sub/deep': 0o600 };
    const when = new Date('2020-02-02T02:02:02Z');
    for (const [name, mode] of Object.entries(modes)) {
      await writeFile(join(src, 'tree', name), `new ${name}\n`);
      await chmod(join(src, 'tree', name), mode);
      await utimes(join(src, 'tree', name), when, when);
    }
    await mkdir(join(src, 'tree', 'newdir', 'inner'), { recursive: true });
    await writeFile(join(src, 'tree', 'newdir', 'inner', 'f'), 'f\n');
    const dirWhen = new Date('2021-03-03T03:03:03Z');
    for (const dir of ['newdir/inner', 'newdir', 'sub']) await utimes(join(src, 'tree', dir), dirWhen, dirWhen);
    // what the destination already holds: a file to overwrite, and a symlink leading out of the root
    await mkdir(join(dest, 'out', 'sub'), { recursive: true });
    await writeFile(join(dest, 'out', 'plain'), 'old\n');
    await writeFile(join(outside, 'target'), 'untouched\n');
    await symlink(join(outside, 'target'), join(dest, 'out', 'exec'));

    const summary = await copyTreeAs1000(src, dest);
    expect(summary.files).toBe(6);
    for (const [name, mode] of Object.entries(modes)) {
      const st = await lstat(join(dest, 'out', name));
      expect(st.isFile(), name).toBe(true);
      expect((st.mode & 0o7777).toString(8), name).toBe(mode.toString(8));
      expect([st.uid, st.gid], name).toEqual([1000, 1000]);
      expect(st.mtime.getTime(), name).toBe(when.getTime());
      expect(await readFile(join(dest, 'out', name), 'utf8')).toBe(`new ${name}\n`);
    }
    expect(await readFile(join(outside, 'target'), 'utf8')).toBe('untouched\n');
    await expect(readlink(join(dest, 'out', 'exec'))).rejects.toThrow();
    expect((await stat(join(dest, 'out', 'sub'))).uid).toBe(1000);
    // Copied directories keep the source's mtime after being filled, new or already there.
    for (const dir of ['newdir/inner', 'newdir', 'sub']) expect((await stat(join(dest, 'out', dir))).mtime.getTime(), dir).toBe(dirWhen.getTime());
  });
});
