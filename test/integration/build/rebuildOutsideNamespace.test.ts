/**
 * A rebuild the cache serves whole runs in the first process: it never enters tsbuild's namespace
 * (the helper's `enter` is not called), gives the same image and shows each step once. A rebuild
 * with a changed file still enters it and builds the change. As root and as an unprivileged user.
 */
import { chmod, chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';
import { ensureTestUser, type TestUser } from '../../helpers/users.js';

const DOCKERFILE = ['FROM base', 'RUN echo built > /built.txt', 'COPY late.txt /late.txt', ''].join('\n');

let base: BusyboxLayout;
beforeAll(async () => {
  base = await busyboxLayout();
}, 120_000);

/** A helper that logs each mode it is started in (`enter`, `run`, `mount-overlay` ...), then is the real one. */
async function loggingHelper(dir: string, owner?: TestUser): Promise<{ path: string; enters: () => Promise<number> }> {
  const log = join(dir, 'helper.log');
  const path = join(dir, 'helper.sh');
  await writeFile(log, '');
  await writeFile(path, `#!/bin/sh\necho "$1" >> '${log}'\nexec '${join(repoRoot(), 'native', 'build', 'tsbuild-helper')}' "$@"\n`);
  await chmod(path, 0o755);
  if (owner) await chown(log, owner.uid, owner.gid);
  return { path, enters: async () => (await readFile(log, 'utf8')).split('\n').filter((l) => l === 'enter').length };
}

function stepLines(stderr: string, step: string): number {
  return stderr.split('\n').filter((l) => new RegExp(`#\\d+ \\[stage-0 \\d/3\\] ${step}`).test(l)).length;
}

async function rebuilds(user?: TestUser): Promise<void> {
  const owner = user ? { uid: user.uid, gid: user.gid } : undefined;
  const work = await makeTempDir('tsbuild-outside', owner ? { owner } : {});
  const ctx = await makeTempDir('tsbuild-outside-ctx');
  await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
  await writeFile(join(ctx, 'late.txt'), 'one\n');
  const helper = await loggingHelper(work, user);
  const store = join(work, 'store');
  const build = (out?: string) =>
    runTsbuild(
      [
        'build', '--root', store, '--progress', 'plain', '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, '-t', 'outside:1',
        ...(out ? ['-o', `type=local,dest=${join(work, out)}`] : []), ctx,
      ],
      // node bin/run.js: its process model (try outside, then re-exec) is what is tested here
      { env: { TSBUILD_HELPER: helper.path }, via: 'run.js', ...(user ? { user } : {}) },
    );

  const cold = await build();
  expect(cold.stderr).not.toContain('error');
  expect(cold.code).toBe(0);
  expect(await helper.enters()).toBe(1);

  const same = await build(user ? undefined : 'same');
  expect(same.code).toBe(0);
  expect(same.stdout).toBe(cold.stdout);
  expect(await helper.enters()).toBe(1);
  // Everything shown once: the isolation line, each step.
  expect(same.stderr.split('\n').filter((l) => l.includes('isolation: rootless')).length).toBe(1);
  expect(stepLines(same.stderr, 'RUN echo built')).toBe(1);
  expect(stepLines(same.stderr, 'COPY late.txt')).toBe(1);
  expect(same.stderr).toMatch(/#3 CACHED/);
  if (!user) {
    expect(await readFile(join(work, 'same', 'late.txt'), 'utf8')).toBe('one\n');
    expect(await readFile(join(work, 'same', 'built.txt'), 'utf8')).toBe('built\n');
  } else {
    // A user's local output needs the namespace's id map for the files' owners: it goes in.
    const local = await build('same');
    expect(local.code).toBe(0);
    expect(local.stdout).toBe(cold.stdout);
    expect(await helper.enters()).toBe(2);
    expect(stepLines(local.stderr, 'COPY late.txt')).toBe(1);
    expect(await readFile(join(work, 'same', 'late.txt'), 'utf8')).toBe('one\n');
  }
  const entered = await helper.enters();

  await writeFile(join(ctx, 'late.txt'), 'two\n');
  const changed = await build('changed');
  expect(changed.code).toBe(0);
  expect(changed.stdout).not.toBe(cold.stdout);
  expect(await helper.enters()).toBe(entered + 1);
  expect(stepLines(changed.stderr, 'RUN echo built')).toBe(1);
  expect(stepLines(changed.stderr, 'COPY late.txt')).toBe(1);
  expect(changed.stderr.split('\n').filter((l) => l.includes('isolation: rootless')).length).toBe(1);
  expect(await readFile(join(work, 'changed', 'late.txt'), 'utf8')).toBe('two\n');
}

describe('a rebuild the cache serves whole', () => {
  it('as root: stays out of the namespace, same image, each step shown once; a changed file goes in', async () => {
    await rebuilds();
  }, 180_000);

  it('as an unprivileged user: the same, except that a local output goes in', async () => {
    await rebuilds(await ensureTestUser());
  }, 180_000);
});
