/**
 * copyFiles on directories of many files, where new regular files are copied in native batches
 * (copyFilesInto) and the rest one by one: every file's bytes, mode (--chmod, setuid after the
 * chown), owner and nanosecond mtime, next to files whose destination exists and symlinks.
 * Needs root (chown to 1000).
 */
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseChmod } from '../../../src/build/steps/chmodSpec.js';
import { copyFilesInto } from '../../../src/util/fsx.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { copyTreeAs1000 } from './copyTreeAs1000.js';

const run = promisify(execFile);

describe('copyFiles in batches', () => {
  it('copies 300 files of every size with their modes, owner and nanosecond mtimes; existing destinations and links take the slow path', async () => {
    const src = await makeTempDir('tsbuild-copybatch-src');
    const dest = await makeTempDir('tsbuild-copybatch-dest');
    const tree = join(src, 'tree');
    await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
    const sizes = [0, 1, 511, 4096, 65_537, 300_000];
    const want = new Map<string, { bytes: Buffer; mode: number }>();
    for (let i = 0; i < 300; i++) {
      const rel = i % 50 === 7 ? `sub/deeper/f${i}` : i % 3 === 0 ? `sub/f${i}` : `f${i}`;
      const bytes = Buffer.alloc(sizes[i % sizes.length]!, `${i};`);
      const mode = [0o644, 0o600, 0o755, 0o4755, 0o2750][i % 5]!;
      await writeFile(join(tree, rel), bytes);
      await chmod(join(tree, rel), mode);
      want.set(rel, { bytes, mode });
    }
    // a big sparse file and a symlink among them
    await writeFile(join(tree, 'sparse'), 'start');
    await truncate(join(tree, 'sparse'), 20 * 1024 * 1024);
    await symlink('f1', join(tree, 'link'));
    // times with nanoseconds, set the way a checkout or tar would (touch keeps all nine digits)
    await run('touch', ['-h', '-d', '2021-03-04 05:06:07.123456789Z', ...[...want.keys()].map((r) => join(tree, r)), join(tree, 'link')]);
    // what the destination already holds: files the batch must leave to the replace path
    await mkdir(join(dest, 'out', 'sub'), { recursive: true });
    for (const rel of ['f1', 'f2', 'sub/f3']) await writeFile(join(dest, 'out', rel), 'old contents, longer than the new ones\n');
    await symlink('/etc/passwd', join(dest, 'out', 'f4'));

    const summary = await copyTreeAs1000(src, dest, parseChmod('g+w'));
    expect(summary.files).toBe(302);

    const mtimeNs = 1_614_834_367_123_456_789n;
    // Replaced files go through Node's utimes, which keeps milliseconds (a double cannot hold
    // nanoseconds since 1970); the layer tar records whole seconds either way.
    const replaced = new Set(['f1', 'f2', 'sub/f3', 'f4']);
    for (const [rel, { bytes, mode }] of want) {
      const st = await lstat(join(dest, 'out', rel), { bigint: true });
      expect(st.isFile(), rel).toBe(true);
      expect(Number(st.mode & 0o7777n).toString(8), rel).toBe((mode | 0o020).toString(8));
      expect([st.uid, st.gid], rel).toEqual([1000n, 1000n]);
      if (replaced.has(rel)) expect(st.mtimeNs / 1_000_000_000n, rel).toBe(mtimeNs / 1_000_000_000n);
      else expect(st.mtimeNs, rel).toBe(mtimeNs);
      expect((await readFile(join(dest, 'out', rel))).equals(bytes), rel).toBe(true);
    }
    expect(await readlink(join(dest, 'out', 'link'))).toBe('f1');
    expect((await lstat(join(dest, 'out', 'link'))).uid).toBe(1000);
    const sparse = await lstat(join(dest, 'out', 'sparse'));
    expect(sparse.size).toBe(20 * 1024 * 1024);
    expect((await readFile(join(dest, 'out', 'sparse'))).subarray(0, 6).toString()).toBe('start\0');
    expect((await lstat(join(dest, 'out', 'sub', 'deeper'))).uid).toBe(1000);
  });

  it('copies every file of a batch between filesystems that refuse copy_file_range (tmpfs to the temp dir)', async () => {
    // The first refusal switches the whole batch to read/write: the files after it must be whole too.
    const src = await mkdtemp('/dev/shm/tsbuild-copybatch-');
    onTestFinished(() => rm(src, { recursive: true, force: true }));
    const dest = await makeTempDir('tsbuild-copybatch-xdev');
    expect((await lstat(src)).dev).not.toBe((await lstat(dest)).dev);
    const files = [0, 7, 4096, 70_000, 300_000, 1, 65_536].map((size, i) => ({ name: `f${i}`, mode: 0o640, bytes: Buffer.alloc(size, `${i}:`) }));
    for (const f of files) await writeFile(join(src, f.name), f.bytes);
    expect(await copyFilesInto(src, dest, files, { uid: 0, gid: 0 })).toEqual(files.map(() => 'copied'));
    for (const f of files) expect((await readFile(join(dest, f.name))).equals(f.bytes)).toBe(true);
  });
});
