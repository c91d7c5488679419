/**
 * Issue 8: an unchanged rebuild started by bin/tsbuild is answered from the build record
 * (src/cli/buildMemo.ts) without building. What a user checks: the answer is the image and the
 * output a rebuild served by the cache gives, and any change a real build would see makes it
 * build again — a context file changed or added, .dockerignore, the Dockerfile, a build argument
 * taken from the environment, the image removed, a base image retagged in the store, the named
 * context's layout, the cache pruned. Whether the build ran is read from what it opened: every
 * build takes a lease in the store (cache/leases/), an answer from the record does not.
 */
import { readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { execChecked, execCommand, type ExecResult } from '../../helpers/exec.js';
import { ensureTestUser, makeReadableBy, runAs } from '../../helpers/users.js';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';

const isRoot = process.getuid?.() === 0;

interface Run extends ExecResult {
  /** Whether a build ran (it took a lease in the store), rather than an answer from the record. */
  built: boolean;
}

const STRACE_OPENS = ['strace', '-f', '-qq', '-e', 'trace=openat', '-o'];

/** bin/tsbuild ARGS under strace, watching which files it creates; as `user` when given. */
async function tsbuild(args: string[], env: Record<string, string> = {}, user?: Awaited<ReturnType<typeof ensureTestUser>>): Promise<Run> {
  const trace = join(await makeTempDir('tsbuild-memo-trace'), 'trace');
  const launcher = join(repoRoot(), 'bin', 'tsbuild');
  const res = user
    ? await runAs(user, launcher, args, { env, via: [...STRACE_OPENS, trace] })
    : await execCommand(STRACE_OPENS[0] as string, [...STRACE_OPENS.slice(1), trace, launcher, ...args], { cwd: repoRoot(), env: { ...process.env, ...env } });
  const opened = await readFile(trace, 'utf8');
  return { ...res, built: /\/cache\/leases\/[^"]*", O_WRONLY\|O_CREAT/.test(opened) };
}

/** Plain progress without its clock column and times, and without the base's metadata reads (`pull … done`). */
function shown(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} /, '').replace(/ DONE \d+\.\ds$/, ' DONE'))
    .filter((l) => !/^pull [0-9a-f]{12} .* done$/.test(l) && !l.startsWith('time '));
}

describe.skipIf(!isRoot)('the build record answers an unchanged rebuild', () => {
  let base: BusyboxLayout;

  beforeAll(async () => {
    base = await busyboxLayout();
  }, 120_000);

  async function project(files: Record<string, string>): Promise<{ ctx: string; store: string; args: (...extra: string[]) => string[] }> {
    const ctx = await makeTempDir('tsbuild-memo-ctx');
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(ctx, name, '..'), { recursive: true });
      await writeFile(join(ctx, name), content);
    }
    const store = await makeTempDir('tsbuild-memo-store');
    return {
      ctx,
      store,
      args: (...extra) => ['build', '--progress', 'plain', '--root', store, '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, '-t', 'app:1', ...extra, ctx],
    };
  }

  const APP = { Dockerfile: 'FROM base\nRUN echo built > /built\nCOPY dir /dir\nCOPY f /f\n', f: 'one\n', 'dir/a': 'a\n' };

  it('answers from the record what the cache would: same image, same steps, same summary', async () => {
    const p = await project(APP);
    const cold = await tsbuild(p.args());
    expect(cold.code, cold.stderr).toBe(0);
    expect(cold.built).toBe(true);
    // The record is written by the build that ran the steps: the first rebuild is answered.
    const answered = await tsbuild(p.args());
    expect(answered.code, answered.stderr).toBe(0);
    expect(answered.built).toBe(false);
    expect(answered.stdout).toBe(cold.stdout);
    // A build the cache serves (another environment: another key, no record yet).
    const cached = await tsbuild(p.args(), { MEMO_TEST: 'other' });
    expect(cached.built).toBe(true);
    expect(cached.stdout).toBe(cold.stdout);
    expect(shown(answered.stderr)).toEqual(shown(cached.stderr));
    expect(answered.stderr).toMatch(/#2 CACHED/);
    expect(answered.stderr).toMatch(/cache +3 of 4 steps cached/);
    const quiet = await tsbuild(p.args('-q'));
    const quietAgain = await tsbuild(p.args('-q'));
    expect([quiet.built, quietAgain.built]).toEqual([true, false]);
    expect([quiet.stdout, quietAgain.stdout, quietAgain.stderr]).toEqual([cold.stdout, cold.stdout, '']);
  }, 120_000);

  it('answers a rootless user\'s rebuild too (bin/tsbuild in the user\'s own namespace)', async () => {
    const user = await ensureTestUser();
    await makeReadableBy(repoRoot());
    await makeReadableBy(process.execPath);
    const p = await project(APP);
    await execChecked('chmod', ['-R', 'a+rX', p.ctx]);
    await execChecked('chown', ['-R', `${user.uid}:${user.gid}`, p.store]);
    await makeReadableBy(p.store);
    const cold = await tsbuild(p.args(), {}, user);
    expect(cold.code, cold.stderr).toBe(0);
    expect(cold.stderr).toMatch(/isolation: rootless/);
    const answered = await tsbuild(p.args(), {}, user);
    expect(answered.code, answered.stderr).toBe(0);
    expect([cold.built, answered.built]).toEqual([true, false]);
    expect(answered.stdout).toBe(cold.stdout);
    await writeFile(join(p.ctx, 'f'), 'changed\n');
    const changed = await tsbuild(p.args(), {}, user);
    expect(changed.built).toBe(true);
    expect(changed.stdout).not.toBe(cold.stdout);
  }, 120_000);

  it('builds again when a context file changes, a file is added or .dockerignore hides one', async () => {
    const p = await project(APP);
    const first = await tsbuild(p.args());
    expect(first.code, first.stderr).toBe(0);
    await writeFile(join(p.ctx, 'f'), 'two\n');
    const changed = await tsbuild(p.args());
    expect(changed.built).toBe(true);
    expect(changed.stderr).toMatch(/#4 DONE .*\(1 file changed: f\)/);
    expect(changed.stdout).not.toBe(first.stdout);
    expect((await tsbuild(p.args())).built).toBe(false);

    await writeFile(join(p.ctx, 'dir', 'b'), 'b\n');
    const added = await tsbuild(p.args());
    expect(added.built).toBe(true);
    expect(added.stderr).toMatch(/#3 DONE .*dir\/b/);
    expect((await tsbuild(p.args())).built).toBe(false);

    await writeFile(join(p.ctx, '.dockerignore'), 'dir/b\n');
    const ignored = await tsbuild(p.args());
    expect(ignored.built).toBe(true);
    expect(ignored.stdout).toBe(changed.stdout);
  }, 120_000);

  it('builds again when the Dockerfile or a build argument from the environment changes', async () => {
    const p = await project({ Dockerfile: 'FROM base\nARG WHO\nRUN echo "$WHO" > /who\n' });
    const alice = await tsbuild(p.args('--build-arg', 'WHO'), { WHO: 'alice' });
    expect(alice.code, alice.stderr).toBe(0);
    expect((await tsbuild(p.args('--build-arg', 'WHO'), { WHO: 'alice' })).built).toBe(false);
    const bob = await tsbuild(p.args('--build-arg', 'WHO'), { WHO: 'bob' });
    expect(bob.built).toBe(true);
    expect(bob.stdout).not.toBe(alice.stdout);

    await writeFile(join(p.ctx, 'Dockerfile'), 'FROM base\nARG WHO\nRUN echo "$WHO" > /who2\n');
    const edited = await tsbuild(p.args('--build-arg', 'WHO'), { WHO: 'bob' });
    expect(edited.built).toBe(true);
    expect(edited.stderr).toMatch(/#3 DONE/);
  }, 120_000);

  it('builds again when the image was removed, its config damaged or the cache pruned', async () => {
    const p = await project(APP);
    const first = await tsbuild(p.args());
    expect(first.code, first.stderr).toBe(0);
    const rmi = await runTsbuild(['rmi', '--root', p.store, 'app:1']);
    expect(rmi.code, rmi.stderr).toBe(0);
    const retag = await tsbuild(p.args());
    expect(retag.built).toBe(true);
    expect(retag.stdout).toBe(first.stdout);
    const images = await runTsbuild(['images', '--root', p.store]);
    expect(images.stdout).toMatch(/app +1/);

    expect((await tsbuild(p.args())).built).toBe(false);
    // The image's config blob damaged in the store: no answer from the record, a build instead.
    const config = join(p.store, 'blobs', 'sha256', first.stdout.trim().slice('sha256:'.length));
    await writeFile(config, '{}');
    const repaired = await tsbuild(p.args());
    expect(repaired.built).toBe(true);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toBe(first.stdout);
    expect((await tsbuild(p.args())).built).toBe(false);
    const prune = await runTsbuild(['cache', 'prune', '--root', p.store]);
    expect(prune.code, prune.stderr).toBe(0);
    const afterPrune = await tsbuild(p.args());
    expect(afterPrune.built).toBe(true);
    expect(afterPrune.stderr).toMatch(/#2 DONE/);
  }, 120_000);

  it('builds again when a base image in the store or the named context is replaced', async () => {
    const p = await project({ Dockerfile: 'FROM base\nRUN echo one > /v\n', 'app/Dockerfile': 'FROM mybase:1\nRUN cat /v > /seen\n' });
    const baseArgs = (dockerfile: string) => ['build', '--progress', 'plain', '--root', p.store, '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, '-t', 'mybase:1', '-f', dockerfile, p.ctx];
    expect((await tsbuild(baseArgs(join(p.ctx, 'Dockerfile')))).code).toBe(0);
    const appArgs = ['build', '--progress', 'plain', '--root', p.store, '-t', 'app:1', '-f', join(p.ctx, 'app', 'Dockerfile'), p.ctx];
    const app = await tsbuild(appArgs);
    expect(app.code, app.stderr).toBe(0);
    expect((await tsbuild(appArgs)).built).toBe(false);
    await writeFile(join(p.ctx, 'Dockerfile'), 'FROM base\nRUN echo two > /v\n');
    expect((await tsbuild(baseArgs(join(p.ctx, 'Dockerfile')))).code).toBe(0);
    const rebased = await tsbuild(appArgs);
    expect(rebased.built).toBe(true);
    expect(rebased.stdout).not.toBe(app.stdout);

    // The named context: its layout now holds another image under the same tag.
    const layout = join(await makeTempDir('tsbuild-memo-layout'), 'layout');
    await execChecked('cp', ['-a', base.dir, layout]);
    const ctxArgs = ['build', '--progress', 'plain', '--root', p.store, '--build-context', `base=oci-layout://${layout}:latest`, '-t', 'ctx:1', '-f', join(p.ctx, 'Dockerfile'), p.ctx];
    const before = await tsbuild(ctxArgs);
    expect(before.code, before.stderr).toBe(0);
    expect((await tsbuild(ctxArgs)).built).toBe(false);
    await rm(layout, { recursive: true });
    const push = await runTsbuild(['push', '--root', p.store, 'app:1', `oci:${layout}:latest`]);
    expect(push.code, push.stderr).toBe(0);
    const after = await tsbuild(ctxArgs);
    expect(after.built).toBe(true);
    expect(after.stdout).not.toBe(before.stdout);
  }, 180_000);

  it('keeps no record for builds with other outputs, or whose image would change anyway', async () => {
    const p = await project(APP);
    const out = join(await makeTempDir('tsbuild-memo-out'), 'layout');
    const withOutput = p.args('-o', `type=oci,dest=${out},tar=false`);
    expect((await tsbuild(withOutput)).code).toBe(0);
    await rm(out, { recursive: true });
    const again = await tsbuild(withOutput);
    expect(again.built).toBe(true);
    // The layout was written again.
    expect(await readdir(out)).toContain('index.json');

    // A target stage with no steps of its own gets a new `created` each build.
    const bare = await project({ Dockerfile: 'FROM base\n' });
    const b1 = await tsbuild(bare.args());
    const b2 = await tsbuild(bare.args());
    expect([b1.code, b2.code]).toEqual([0, 0]);
    expect(b2.built).toBe(true);
    expect(await readdir(join(bare.store, 'cache', 'memo')).catch(() => [])).toEqual([]);
  }, 120_000);
});
