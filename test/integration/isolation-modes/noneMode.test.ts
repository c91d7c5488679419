/**
 * `--isolation none` where it must not run, and its runtime on a directory standing in for `/`
 * (the real thing, on a container's own `/`, is in container.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeContainer, readContainerFacts } from '../../../src/isolation/containerCheck.js';
import { NoneRuntime } from '../../../src/isolation/noneRuntime.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

describe('--isolation none', () => {
  it('outside a throw-away container it is refused with the reason, and nothing under / is touched', async () => {
    // Never run the command below where it could replace this machine's files.
    const verdict = judgeContainer(await readContainerFacts());
    expect(verdict.inContainer, `this test host looks like a throw-away container (${verdict.signs.join(', ')}); run the suite on a machine or VM`).toBe(false);
    const sentinel = `/var/tmp/tsbuild-none-sentinel-${randomUUID()}`;
    await writeFile(sentinel, 'still here\n');
    try {
      const ctx = await makeTempDir('tsbuild-none-ctx');
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY Dockerfile /\n');
      const store = join(await makeTempDir('tsbuild-none-store'), 'store');
      const rootBefore = (await readdir('/')).sort();
      const hows: Array<{ args: string[]; env: Record<string, string> }> = [{ args: ['--isolation', 'none'], env: {} }, { args: [], env: { TSBUILD_ISOLATION: 'none' } }];
      for (const how of hows) {
        const res = await runTsbuild(['build', ...how.args, '--root', store, ctx], { env: how.env });
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(/^error: --isolation none replaces the files under \/ with the image's, and this does not look like a throw-away container \(.*kernel threads are visible.*\); nothing was changed$/m);
        expect(res.stderr).toContain('hint: run it only inside a container made for the build');
        expect(res.stderr).toContain('TSBUILD_ISOLATION_NONE_FORCE=1');
      }
      expect((await readdir('/')).sort()).toEqual(rootBefore);
      const info = await runTsbuild(['info', '--root', store]);
      expect(info.code, info.stderr).toBe(0);
      expect(info.stdout).toMatch(/^none: +refused \(not a throw-away container: kernel threads are visible \(the host pid namespace\)\)$/m);
      expect(await readFile(sentinel, 'utf8')).toBe('still here\n');
      // Refused before the store was even opened.
      await expect(stat(store)).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(sentinel, { force: true });
    }
  }, 60_000);

  it('replaces the root with the step\'s layer chain but the kept paths, runs the step there, and writes only its changes', async () => {
    const work = await makeTempDir('tsbuild-none-root');
    const [layer, root, upper] = ['layer', 'root', 'upper'].map((d) => join(work, d)) as [string, string, string];
    for (const d of [layer, root, upper]) await mkdir(d);
    // The image: etc/conf, old.txt, mnt/from-image (hidden by a kept mount point at mnt).
    await mkdir(join(layer, 'etc'));
    await writeFile(join(layer, 'etc', 'conf'), 'image conf\n');
    await writeFile(join(layer, 'old.txt'), 'old\n');
    await mkdir(join(layer, 'mnt'));
    await writeFile(join(layer, 'mnt', 'from-image'), 'x');
    // ... and opt, a symlink, where the container has a kept mount point below (opt/data).
    await symlink('/nonexistent', join(layer, 'opt'));
    // What the container had: junk from an earlier step, a kept mount point and a kept file in a dir.
    await writeFile(join(root, 'junk'), 'left by the last step');
    await mkdir(join(root, 'mnt'));
    await writeFile(join(root, 'mnt', 'precious'), 'kept');
    await mkdir(join(root, 'etc'));
    await writeFile(join(root, 'etc', 'hosts'), 'kept hosts\n');
    await mkdir(join(root, 'opt', 'data'), { recursive: true });

    const runtime = new NoneRuntime({ flavor: 'user', keep: [join(root, 'mnt'), join(root, 'etc', 'hosts'), join(root, 'opt', 'data')], root });
    let out = '';
    let err = '';
    const res = await runtime.run(
      {
        rootfs: { lowerdirs: [layer], upperdir: upper, workdir: join(work, 'w'), userxattr: true },
        mountpoint: root,
        argv: ['/bin/sh', '-c', 'ls; cat etc/conf; echo new > new.txt; rm old.txt; echo changed > mnt/precious; echo more >> etc/hosts'],
        env: ['PATH=/usr/bin:/bin'],
        cwd: '/',
        user: '',
        hostname: 'x',
        network: 'host',
      },
      { onStdout: (b) => (out += b.toString()), onStderr: (b) => (err += b.toString()) },
      new AbortController().signal,
    );
    expect(res.exitCode, out + err).toBe(0);
    // The step saw the image and the kept paths, not the junk.
    expect(out).toBe('etc\nmnt\nold.txt\nopt\nimage conf\n');
    // The image's mnt/ and its opt symlink are hidden by kept mount points: said, not silently dropped.
    expect(err).toBe("warning: --isolation none: the image's /mnt, /opt not used: kept paths (mount points or tsbuild's own) are there; this step sees the container's, and its changes there stay out of the layer\n");
    expect((await readdir(upper)).sort()).toEqual(['new.txt', 'old.txt']);
    expect(await readFile(join(upper, 'new.txt'), 'utf8')).toBe('new\n');
    expect((await lstat(join(upper, 'old.txt'))).isCharacterDevice()).toBe(true);
    // Kept paths are neither replaced nor part of the layer.
    expect(await readdir(join(root, 'mnt'))).toEqual(['precious']);
    expect(await readFile(join(root, 'mnt', 'precious'), 'utf8')).toBe('changed\n');
    expect(await readFile(join(root, 'etc', 'hosts'), 'utf8')).toBe('kept hosts\nmore\n');
  });
});
