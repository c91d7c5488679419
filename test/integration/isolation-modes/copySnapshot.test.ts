/**
 * The copy snapshot on real directories: a chain of overlay-form layers (whiteouts, opaque
 * directories, hardlinks) is materialized faithfully, and the diff after a change writes the
 * upper dir overlayfs would have written.
 */
import { chmod, chown, link, mkdtemp, lstat, mkdir, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { diffCopy, materializeLayers } from '../../../src/snapshot/copySnapshot.js';
import { lgetxattrs, lsetxattr, mknodChar } from '../../../src/util/fsx.js';
import { makeTempDir } from '../../helpers/tmp.js';

async function tree(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(dir, r));
    const opaque = st.isDirectory() && (await lgetxattrs(join(dir, r))).some(([k]) => k === 'user.overlay.opaque');
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() && st.rdev === 0 ? 'wh' : `f(${await readFile(join(dir, r), 'utf8')})`;
    out.push(`${r} ${kind}${opaque ? ' opaque' : ''} ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) out.push(...(await tree(dir, r)));
  }
  return out;
}

describe('copy snapshots', () => {
  // The upper dir on another mount than the copy (isolation none: the store vs `/`) cannot take a
  // rename: the diff copies, keeping hardlinks, owners and modes.
  it.each([
    ['the same filesystem', undefined],
    ['another mount (tmpfs /dev/shm: copied, not renamed)', '/dev/shm'],
  ])('materializes a layer chain with whiteouts, opaque dirs and hardlinks, and diffs changes as overlayfs would; upper dir on %s', async (_where, upperMount) => {
    const work = await makeTempDir('tsbuild-copysnap');
    const upperParent = upperMount === undefined ? work : await mkdtemp(join(upperMount, 'tsbuild-copysnap-'));
    if (upperMount !== undefined) onTestFinished(() => rm(upperParent, { recursive: true, force: true }));
    const [l1, l2, root] = ['l1', 'l2', 'root'].map((d) => join(work, d)) as [string, string, string];
    const upper = join(upperParent, 'upper');
    for (const d of [l1, l2, root, upper]) await mkdir(d);
    // Bottom layer: a/{x,y}, b/old, h1 = h2 (hardlinks), gone.
    await mkdir(join(l1, 'a'));
    await writeFile(join(l1, 'a', 'x'), 'x1');
    await writeFile(join(l1, 'a', 'y'), 'y1');
    await mkdir(join(l1, 'b'));
    await writeFile(join(l1, 'b', 'old'), 'old');
    await writeFile(join(l1, 'h1'), 'shared');
    await link(join(l1, 'h1'), join(l1, 'h2'));
    await writeFile(join(l1, 'gone'), 'gone');
    // Top layer: a/x changed, gone deleted, b replaced (opaque) by b/new.
    await mkdir(join(l2, 'a'));
    await writeFile(join(l2, 'a', 'x'), 'x2');
    await mknodChar(join(l2, 'gone'), 0, 0, 0);
    await mkdir(join(l2, 'b'));
    await lsetxattr(join(l2, 'b'), 'user.overlay.opaque', Buffer.from('y'));
    await writeFile(join(l2, 'b', 'new'), 'new');

    const baseline = await materializeLayers([l2, l1], root, { flavor: 'user' });
    expect(await tree(root)).toEqual(['a d 755', 'a/x f(x2) 644', 'a/y f(y1) 644', 'b d 755', 'b/new f(new) 644', 'h1 f(shared) 644', 'h2 f(shared) 644']);
    expect((await lstat(join(root, 'h1'))).ino).toBe((await lstat(join(root, 'h2'))).ino);
    expect((await lstat(join(root, 'h1'))).ino).not.toBe((await lstat(join(l1, 'h1'))).ino);

    // The step: chmod only, a new file with a hardlink, a rename, a directory replaced by a new one
    // (likely with its old inode number), a deletion, and untouched files.
    await chmod(join(root, 'a', 'y'), 0o600);
    await writeFile(join(root, 'n1'), 'n');
    await chown(join(root, 'n1'), 1000, 1000);
    await link(join(root, 'n1'), join(root, 'n2'));
    await rename(join(root, 'a', 'x'), join(root, 'a', 'moved'));
    await rm(join(root, 'b'), { recursive: true });
    await mkdir(join(root, 'b'));
    await writeFile(join(root, 'b', 'fresh'), 'fresh');
    await rm(join(root, 'h2'));
    await symlink('h1', join(root, 'link'));

    await diffCopy(root, baseline, upper, { flavor: 'user' });
    expect(await tree(upper)).toEqual([
      'a d 755',
      'a/moved f(x2) 644',
      'a/x wh 0',
      'a/y f(y1) 600',
      'b d opaque 755',
      'b/fresh f(fresh) 644',
      // h1 only lost its other name: overlayfs leaves it below, so must the diff.
      'h2 wh 0',
      'link l 777',
      'n1 f(n) 644',
      'n2 f(n) 644',
    ]);
    expect((await lstat(join(upper, 'n1'))).ino).toBe((await lstat(join(upper, 'n2'))).ino);
    expect((await lstat(join(upper, 'n1'))).uid).toBe(1000);
  });
});
