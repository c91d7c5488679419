/**
 * Issue 8: the installed command, bin/tsbuild, enters tsbuild's namespace before Node starts, so a
 * build with steps to run starts Node once (bin/run.js alone: twice, a try outside and the
 * re-exec). Counted as a user would: `strace -f -e trace=execve` and the node execs that succeed.
 * Each build is compared, digest for digest (SOURCE_DATE_EPOCH), with the same build through
 * `node bin/run.js`.
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { execChecked, execCommand, type ExecResult } from '../../helpers/exec.js';
import { manifestDigest } from '../../helpers/ociLayout.js';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot } from '../../helpers/tsbuild.js';
import { makeReadableBy, runAs, type TestUser } from '../../helpers/users.js';
import { buildIdMap, findSubidRanges, formatIdMap, parseSubidFile } from '../../../src/isolation/idmap.js';
import { repoBinds, runInUnprivilegedContainer } from '../isolation-modes/unprivilegedContainer.js';
import { STRACE_EXECS, execs, nodeStarts } from './execTrace.js';

const isRoot = process.getuid?.() === 0;
const LAUNCHER = join(repoRoot(), 'bin', 'tsbuild');
const HELPER = join(repoRoot(), 'native', 'build', 'tsbuild-helper');
const EPOCH = '1700000000';
const DOCKERFILE = 'FROM base\nRUN echo built > /built && mkdir /d\nCOPY f /f\n';

/** A user made for this file with useradd, with no /etc/subuid or /etc/subgid range. */
async function userWithoutRanges(): Promise<TestUser> {
  const name = 'tsb-launch-noid';
  if ((await execCommand('id', ['-u', name])).code !== 0) {
    await execChecked('useradd', ['-m', '-s', '/bin/sh', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', name]);
  }
  const [uid, gid, home] = await Promise.all([
    execChecked('id', ['-u', name]).then((r) => Number(r.stdout.trim())),
    execChecked('id', ['-g', name]).then((r) => Number(r.stdout.trim())),
    execChecked('getent', ['passwd', name]).then((r) => r.stdout.trim().split(':')[5] as string),
  ]);
  const user = { name, uid, gid, home };
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const mine = findSubidRanges(parseSubidFile(await readFile(file, 'utf8').catch(() => '')), { name, uid });
    if (mine.length > 0) throw new Error(`${name} must have no range in ${file} for this test, found ${JSON.stringify(mine)}`);
  }
  return user;
}

/**
 * A user with two ranges in each file, one under its name and one under its numeric uid, and
 * the first line twice (as `usermod --add-subuids` run twice leaves it).
 */
async function userWithTwoRanges(): Promise<TestUser> {
  const name = 'tsb-launch-maps';
  if ((await execCommand('id', ['-u', name])).code !== 0) {
    await execChecked('useradd', ['-m', '-s', '/bin/sh', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', name]);
  }
  const uid = Number((await execChecked('id', ['-u', name])).stdout.trim());
  const gid = Number((await execChecked('id', ['-g', name])).stdout.trim());
  const home = (await execChecked('getent', ['passwd', name])).stdout.trim().split(':')[5] as string;
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (findSubidRanges(parseSubidFile(text), { name, uid }).length > 0) continue;
    const lines = `${name}:600000:65536\n${name}:600000:65536\n${uid}:700000:1000\n`;
    await appendFile(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}${lines}`);
  }
  return { name, uid, gid, home };
}

describe.skipIf(!isRoot)('bin/tsbuild: one Node start-up per build', () => {
  let base: BusyboxLayout;
  let ctx: string;
  /** The image built by `node bin/run.js` as root: what every other build must equal. */
  let reference: string;

  beforeAll(async () => {
    base = await busyboxLayout();
    ctx = await makeTempDir('tsbuild-launch-ctx');
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
    await writeFile(join(ctx, 'f'), 'from the context\n');
    await makeReadableBy(repoRoot());
    await makeReadableBy(process.execPath);
  });

  /** build ARGS for this store and output dir, from the busybox base. */
  function buildArgs(store: string, out: string, extra: string[] = []): string[] {
    return ['build', '--progress', 'plain', '--root', store, ...extra, '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, '-t', 'app:1', '-o', `type=oci,dest=${out},tar=false`, ctx];
  }

  /** Runs `cmd build ...` (as `user`, else root) under strace; returns the result and the trace. */
  async function traced(cmd: string[], args: string[], user?: TestUser, env: Record<string, string> = {}): Promise<{ res: ExecResult; trace: string }> {
    const traceFile = join(await makeTempDir('tsbuild-launch-trace'), 'trace');
    const via = [...STRACE_EXECS, traceFile];
    const [first, ...rest] = cmd as [string, ...string[]];
    const res = user
      ? await runAs(user, first, [...rest, ...args], { via, env: { SOURCE_DATE_EPOCH: EPOCH, ...env } })
      : await execCommand(via[0] as string, [...via.slice(1), first, ...rest, ...args], { cwd: repoRoot(), env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH, ...env } });
    return { res, trace: await readFile(traceFile, 'utf8') };
  }

  async function outDir(user?: TestUser): Promise<{ store: string; out: string }> {
    const owner = user ? { owner: { uid: user.uid, gid: user.gid } } : {};
    return { store: await makeTempDir('tsbuild-launch-store', owner), out: join(await makeTempDir('tsbuild-launch-out', owner), 'layout') };
  }

  it('as root: node bin/run.js starts Node twice for a build with misses, bin/tsbuild once, and the images are the same', async () => {
    const old = await outDir();
    const before = await traced([process.execPath, join(repoRoot(), 'bin', 'run.js')], buildArgs(old.store, old.out));
    expect(before.res.code, before.res.stderr).toBe(0);
    expect(nodeStarts(before.trace)).toHaveLength(2);
    reference = await manifestDigest(old.out);

    const now = await outDir();
    const after = await traced([LAUNCHER], buildArgs(now.store, now.out));
    expect(after.res.code, after.res.stderr).toBe(0);
    expect(after.res.stderr).toContain('isolation: rootless (auto: namespaces and overlay work here)');
    expect(nodeStarts(after.trace)).toHaveLength(1);
    expect(await manifestDigest(now.out)).toBe(reference);
  });

  it('as a user with /etc/subuid ranges (by name and by uid): one start, the same image, and the maps auto computes', async () => {
    const user = await userWithTwoRanges();
    const { store, out } = await outDir(user);
    const { res, trace } = await traced([LAUNCHER], buildArgs(store, out), user);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('isolation: rootless (auto: namespaces and overlay work here)');
    expect(res.stderr).not.toContain('warning');
    expect(nodeStarts(trace)).toHaveLength(1);
    expect(await manifestDigest(out)).toBe(reference);

    // The helper's maps are the ones src/isolation/idmap.ts computes from the same files.
    const maps = await runAs(user, HELPER, ['enter', '--auto', '--', 'cat', '/proc/self/uid_map', '/proc/self/gid_map']);
    expect(maps.code, maps.stderr).toBe(0);
    const [subuid, subgid] = await Promise.all([readFile('/etc/subuid', 'utf8'), readFile('/etc/subgid', 'utf8')]);
    const who = { name: user.name, uid: user.uid };
    const uidRanges = findSubidRanges(parseSubidFile(subuid), who);
    expect(uidRanges).toEqual([{ start: 600000, count: 65536 }, { start: 700000, count: 1000 }]);
    const expected = formatIdMap(buildIdMap(user.uid, uidRanges)) + formatIdMap(buildIdMap(user.gid, findSubidRanges(parseSubidFile(subgid), who)));
    const words = (text: string) => text.trim().split(/\s+/);
    expect(words(maps.stdout)).toEqual(words(expected));
  });

  it('as a user without ranges: a one-id map with the usual warning, one start, the same image', async () => {
    const user = await userWithoutRanges();
    const { store, out } = await outDir(user);
    const { res, trace } = await traced([LAUNCHER], buildArgs(store, out), user);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`warning: no /etc/subuid range for ${user.name}; only one uid is mapped`);
    expect(res.stderr).toContain('isolation: rootless (auto: namespaces and overlay work here)');
    expect(nodeStarts(trace)).toHaveLength(1);
    expect(await manifestDigest(out)).toBe(reference);
    const maps = await runAs(user, HELPER, ['enter', '--auto', '--', 'cat', '/proc/self/uid_map']);
    expect(maps.stdout.trim().split(/\s+/)).toEqual(['0', String(user.uid), '1']);
  });

  it('an explicit --isolation chroot (or TSBUILD_ISOLATION=chroot) does not enter: the helper execs Node itself, outside', async () => {
    for (const [extra, env] of [[['--isolation', 'chroot'], {}], [['--isolation=chroot'], {}], [[], { TSBUILD_ISOLATION: 'chroot' }]] as const) {
      const { store, out } = await outDir();
      const { res, trace } = await traced([LAUNCHER], buildArgs(store, out, [...extra]), undefined, env);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toContain('isolation: chroot (asked for with --isolation chroot)');
      const helper = execs(trace).find((e) => basename(e.path) === 'tsbuild-helper');
      const node = nodeStarts(trace);
      expect(node).toHaveLength(1);
      // Entering forks a child that unshares and then execs Node; going outside is one exec in place.
      expect(node[0]?.pid).toBe(helper?.pid);
      expect(await manifestDigest(out)).toBe(reference);
    }
  });

  it('a config file asking for proot is honoured: the build inside hands it back and it runs outside with proot', async () => {
    // No strace here: proot needs ptrace for itself.
    const config = join(await makeTempDir('tsbuild-launch-config'), 'config.yaml');
    await writeFile(config, 'isolation: proot\n');
    const { store, out } = await outDir();
    const res = await execCommand(LAUNCHER, buildArgs(store, out), { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH, TSBUILD_CONFIG: config, TSBUILD_DEBUG: '1' } });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain("debug: --isolation proot does not run inside tsbuild's namespace: running it again outside");
    expect(res.stderr).toContain('isolation: proot');
    expect(res.stderr).not.toContain('isolation: rootless');
    expect(await manifestDigest(out)).toBe(reference);
  });

  it('where user namespaces are refused (Docker default seccomp, no CAP_SYS_ADMIN): the launcher falls back and the build works', async () => {
    for (const user of [undefined, { uid: 2000, gid: 2000 }]) {
      const tmp = await makeTempDir('tsbuild-launch-ctr', { mode: 0o1777 });
      await execChecked('cp', ['-r', ctx, join(tmp, 'ctx')]);
      await execChecked('cp', ['-r', base.dir, join(tmp, 'base')]);
      await execChecked('chmod', ['-R', 'a+rX', tmp]);
      const res = await runInUnprivilegedContainer({
        args: [LAUNCHER, 'build', '--progress', 'plain', '--root', '/tmp/store', '--build-context', 'base=oci-layout:///tmp/base:latest', '-t', 'app:1', '-o', 'type=oci,dest=/tmp/layout,tar=false', '/tmp/ctx'],
        env: [`SOURCE_DATE_EPOCH=${EPOCH}`],
        ...(user ? { user } : {}),
        readonlyBinds: await repoBinds(),
        tmpDir: tmp,
      });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toContain(`isolation: ${user ? 'proot' : 'chroot'} (auto: rootless is impossible`);
      expect(await manifestDigest(join(tmp, 'layout'))).toBe(reference);
    }
  });
});
