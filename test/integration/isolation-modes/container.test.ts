/**
 * Issue 7's "Done when": tsbuild inside an unprivileged container (runc, Docker's default
 * capabilities and seccomp profile, no CAP_SYS_ADMIN) builds the spine's multi-stage Dockerfile
 * with --isolation auto, and the image equals, digest for digest with SOURCE_DATE_EPOCH, the one
 * built rootless on the host.
 */
import { chmod, cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { manifestDigest } from '../../helpers/ociLayout.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';
import { SPINE_DOCKERFILE } from '../../helpers/spineDockerfile.js';
import { noneNodeArgs, repoBinds, runInUnprivilegedContainer } from './unprivilegedContainer.js';


describe('tsbuild in an unprivileged container', () => {
  let registry: TestRegistry;
  let base: string;
  let hostDigest: string;
  let ctx: string;

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
    ctx = await makeTempDir('tsbuild-ctr-ctx');
    await writeFile(join(ctx, 'Dockerfile'), SPINE_DOCKERFILE);
    await writeFile(join(ctx, 'hello.txt'), 'hello context\n');
    const layout = join(await makeTempDir('tsbuild-ctr-host'), 'layout');
    const res = await runTsbuild(['build', '-q', '--root', await makeTempDir('tsbuild-ctr-hoststore'), '--isolation', 'rootless', '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${layout},tar=false`, ctx], {
      env: { SOURCE_DATE_EPOCH: '1700000000' },
    });
    expect(res.code, res.stderr).toBe(0);
    hostDigest = await manifestDigest(layout);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('as root: info shows namespaces blocked, auto picks chroot, and the image digest equals the host rootless build', async () => {
    const tmp = await makeTempDir('tsbuild-ctr-tmp');
    await chmod(tmp, 0o1777);
    const node = process.execPath;
    const binds = await repoBinds();
    // The context inside the container's /tmp (a host dir under /tmp would be hidden by it).
    await cp(ctx, join(tmp, 'ctx'), { recursive: true });
    const info = await runInUnprivilegedContainer({ args: [node, join(repoRoot(), 'bin/run.js'), 'info'], readonlyBinds: binds, tmpDir: tmp });
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain('allows:     user namespaces no, overlay in a user namespace no, newuidmap yes, mount no, chroot yes, mknod yes');
    expect(info.stdout).toContain('auto picks: chroot (auto: rootless is impossible (mount namespaces are blocked');
    // runc's own pid namespace, and / a bind mount of the bundle's rootfs directory.
    expect(info.stdout).toMatch(/^none: +allowed when asked for \(a throw-away container: \/ is a bind mount of \/.*\/rootfs\)$/m);

    const res = await runInUnprivilegedContainer({
      args: [node, join(repoRoot(), 'bin/run.js'), 'build', '--progress', 'plain', '--root', '/tmp/store', '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', 'type=oci,dest=/tmp/layout,tar=false', '/tmp/ctx'],
      env: ['SOURCE_DATE_EPOCH=1700000000'],
      readonlyBinds: binds,
      tmpDir: tmp,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('isolation: chroot (auto: rootless is impossible');
    expect(await manifestDigest(join(tmp, 'layout'))).toBe(hostDigest);
  });

  it('as a non-root user: info shows proot with its chown trap, auto picks it, and the image digest equals the host rootless build', async () => {
    const tmp = await makeTempDir('tsbuild-ctr-tmp');
    await chmod(tmp, 0o1777);
    await cp(ctx, join(tmp, 'ctx'), { recursive: true });
    const node = process.execPath;
    // Not 1000: the spine chowns to 1000:1000, and under proot -0 a chown to the builder's own
    // uid cannot be told from a chown to root (proot swaps 0 for it); the isolation line says so.
    const user = { uid: 2000, gid: 2000 };
    const info = await runInUnprivilegedContainer({ args: [node, join(repoRoot(), 'bin/run.js'), 'info'], user, readonlyBinds: await repoBinds(), tmpDir: tmp });
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/^allows: +user namespaces no, overlay in a user namespace no, newuidmap yes, mount no, chroot no, mknod no, ptrace\/proot yes, seccomp user notification yes$/m);
    expect(info.stdout).toContain('auto picks: proot (auto: rootless is impossible (unshare(CLONE_NEWUSER) is refused (seccomp or AppArmor)))');
    expect(info.stdout).toContain("a chown to this user's own ids (2000:2000) is recorded as 0:0");
    const res = await runInUnprivilegedContainer({
      args: [node, join(repoRoot(), 'bin/run.js'), 'build', '--progress', 'plain', '--root', '/tmp/store', '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', 'type=oci,dest=/tmp/layout,tar=false', '/tmp/ctx'],
      env: ['SOURCE_DATE_EPOCH=1700000000'],
      user,
      readonlyBinds: await repoBinds(),
      tmpDir: tmp,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('isolation: proot (auto: rootless is impossible');
    expect(res.stderr).toContain('not available: inside RUN every file shows root as its owner');
    expect(await manifestDigest(join(tmp, 'layout'))).toBe(hostDigest);
  });

  it('as root with --isolation none (kaniko\'s model: RUN on the container\'s own /): warns, keeps tsbuild and its mounts, and the digest equals the host rootless build', async () => {
    const work = await makeTempDir('tsbuild-ctr-none');
    await chmod(work, 0o1777);
    await cp(ctx, join(work, 'ctx'), { recursive: true });
    await writeFile(join(work, 'keep-me'), 'a kept mount\n');
    const runtimeDir = '/tsbuild';
    const res = await runInUnprivilegedContainer({
      args: [...(await noneNodeArgs(runtimeDir)), join(repoRoot(), 'bin/run.js'), 'build', '--isolation', 'none', '--progress', 'plain', '--root', `${runtimeDir}/work/store`, '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${runtimeDir}/work/layout,tar=false`, `${runtimeDir}/work/ctx`],
      env: ['SOURCE_DATE_EPOCH=1700000000'],
      readonlyBinds: await repoBinds(),
      tmpDir: work,
      runtimeDir,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('isolation: none (asked for with --isolation none)');
    expect(res.stderr).toMatch(/^warning: --isolation none: RUN steps are not isolated: /m);
    expect(await manifestDigest(join(work, 'layout'))).toBe(hostDigest);
    // The writable mount the store lives on was kept, not wiped with /.
    expect(await readFile(join(work, 'keep-me'), 'utf8')).toBe('a kept mount\n');
    expect((await readdir(work)).sort()).toEqual(['ctx', 'keep-me', 'layout', 'store']);
  });

  it('bake --isolation none: three services sharing the container\'s / build to the images bake makes rootless on the host', async () => {
    const layout = await busyboxLayout();
    const compose = join(repoRoot(), 'examples', 'compose', 'compose.yaml');
    const env = { BASE_LAYOUT: layout.dir, SOURCE_DATE_EPOCH: '1700000000' };
    const host = await runTsbuild(['bake', '-q', '-f', compose, '--root', await makeTempDir('tsbuild-ctr-hoststore'), '--isolation', 'rootless'], { env });
    expect(host.code, host.stderr).toBe(0);
    expect(host.stdout).toMatch(/^web=sha256:[0-9a-f]{64}\napp=sha256:[0-9a-f]{64}\ndb=sha256:[0-9a-f]{64}\n$/);
    const work = await makeTempDir('tsbuild-ctr-none');
    await chmod(work, 0o1777);
    const runtimeDir = '/tsbuild';
    const res = await runInUnprivilegedContainer({
      args: [...(await noneNodeArgs(runtimeDir)), join(repoRoot(), 'bin/run.js'), 'bake', '-q', '-f', compose, '--root', `${runtimeDir}/work/store`],
      env: Object.entries({ ...env, TSBUILD_ISOLATION: 'none' }).map(([k, v]) => `${k}=${v}`),
      readonlyBinds: [...(await repoBinds()), layout.dir],
      tmpDir: work,
      runtimeDir,
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/^warning: --isolation none: RUN steps are not isolated: /m);
    expect(res.stdout).toBe(host.stdout);
  });
});
