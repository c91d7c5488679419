/**
 * The spine end to end, as a user runs it: the CLI builds a multi-stage Dockerfile from a base
 * served by a real registry, as root and as an unprivileged user; independent tools (skopeo,
 * umoci, runc) check what it wrote.
 */
import { lstat, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { runOciImage, unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { SPINE_DOCKERFILE } from '../../helpers/spineDockerfile.js';
import { ensureTestUser, type TestUser } from '../../helpers/users.js';

const DOCKERFILE = SPINE_DOCKERFILE;

interface ImageConfigJson {
  config: { Env?: string[]; Cmd?: string[]; WorkingDir?: string; User?: string; Labels?: Record<string, string>; ExposedPorts?: Record<string, unknown> };
  rootfs: { diff_ids: string[] };
  history: Array<{ created_by?: string; empty_layer?: boolean }>;
}

async function makeContext(): Promise<string> {
  const dir = await makeTempDir('tsbuild-ctx');
  await writeFile(join(dir, 'Dockerfile'), DOCKERFILE);
  await writeFile(join(dir, 'hello.txt'), 'hello context\n');
  return dir;
}

async function layoutManifestDigest(layout: string): Promise<string> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  return index.manifests[0]!.digest;
}

async function skopeoConfig(layout: string, tag: string): Promise<ImageConfigJson> {
  const { stdout } = await execChecked('skopeo', ['inspect', '--config', `oci:${layout}:${tag}`]);
  return JSON.parse(stdout) as ImageConfigJson;
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

async function assertSpineImage(layout: string): Promise<void> {
  const config = await skopeoConfig(layout, '1');
  expect(config.config.Env).toEqual(expect.arrayContaining(['GREETING=hi', 'NAME=world']));
  expect(config.config.WorkingDir).toBe('/app');
  expect(config.config.User).toBe('1000:1000');
  expect(config.config.Cmd).toEqual(['sh', '-c', 'echo $GREETING $NAME; cat /app/out.txt; pwd; id -u']);
  expect(config.config.Labels).toEqual({ 'org.example.kind': 'spine' });
  expect(Object.keys(config.config.ExposedPorts ?? {})).toEqual(['8080/tcp']);
  expect(config.history.filter((h) => !h.empty_layer).length).toBe(config.rootfs.diff_ids.length);
  expect(config.history.some((h) => h.created_by?.includes('this stage must not run'))).toBe(false);

  const rootfs = await unpackOciImage(layout, '1');
  // Deleted files and directories of the base are gone; the replaced directory holds only the new file.
  expect(await exists(join(rootfs, 'usr/bin'))).toBe(false);
  expect(await exists(join(rootfs, 'etc/hostname'))).toBe(false);
  expect(await exists(join(rootfs, 'src/hello.txt'))).toBe(false);
  expect(await readdir(join(rootfs, 'data'))).toEqual(['new']);
  expect(await readFile(join(rootfs, 'data/new'), 'utf8')).toBe('fresh\n');
  // chown in a RUN and --chown/--chmod on COPY keep container ids and modes.
  expect((await stat(join(rootfs, 'etc/owned'))).uid).toBe(1000);
  const priv = await stat(join(rootfs, 'app/private.txt'));
  expect([priv.uid, priv.gid, priv.mode & 0o777]).toEqual([1000, 1000, 0o640]);
  expect((await stat(join(rootfs, 'app/hello.txt'))).uid).toBe(0);
  // Copied from other stages, by name and by index; a directory copies its contents; symlinks stay links.
  expect(await readFile(join(rootfs, 'app/out.txt'), 'utf8')).toBe('built from hello context\n');
  expect(await readFile(join(rootfs, 'app/assets/one'), 'utf8')).toBe('asset\n');
  expect((await lstat(join(rootfs, 'app/assets/link'))).isSymbolicLink()).toBe(true);
  // No mount stub leaked into a layer the base did not have.
  expect(await readFile(join(rootfs, 'bin/busybox')).then((b) => b.length > 0)).toBe(true);

  const run = await runOciImage(layout, '1');
  expect(run.stderr).toBe('');
  expect(run.stdout).toBe('hi world\nbuilt from hello context\n/app\n1000\n');
  expect(run.code).toBe(0);
}

describe('tsbuild build (the spine)', () => {
  let registry: TestRegistry;
  let base: string;

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('builds a multi-stage Dockerfile as root into an OCI layout that skopeo, umoci and runc accept', async () => {
    const ctx = await makeContext();
    const store = await makeTempDir('tsbuild-store');
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(['build', '--progress', 'plain', '--root', store, '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${out},tar=false`, ctx]);
    expect(res.stderr).toContain('[build 1/4] FROM');
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.stderr).not.toContain('this stage must not run');
    await assertSpineImage(out);

    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ annotations: Record<string, string> }> };
    expect(index.manifests[0]!.annotations).toEqual({
      'org.opencontainers.image.ref.name': '1',
      'io.containerd.image.name': 'docker.io/library/app:1',
    });

    // The store keeps the image for `images` and `push`.
    const images = await runTsbuild(['images', '--root', store]);
    expect(images.code, images.stderr).toBe(0);
    expect(images.stdout).toMatch(/app\s+1\s+[0-9a-f]{12}/);

    const pushed = join(await makeTempDir('tsbuild-push'), 'layout');
    const push = await runTsbuild(['push', '--root', store, 'app:1', `oci:${pushed}:v1`]);
    expect(push.code, push.stderr).toBe(0);
    expect(await layoutManifestDigest(pushed)).toBe(await layoutManifestDigest(out));
    await execChecked('skopeo', ['inspect', `oci:${pushed}:v1`]);

    const remote = `${registry.host}/team/app:1`;
    const push2 = await runTsbuild(['push', '--root', store, 'app:1', `docker://${remote}`]);
    expect(push2.code, push2.stderr).toBe(0);
    const inspected = await execChecked('skopeo', ['inspect', '--tls-verify=false', `docker://${remote}`]);
    expect((JSON.parse(inspected.stdout) as { Digest: string }).Digest).toBe(await layoutManifestDigest(out));
  });

  describe('as an unprivileged user', () => {
    let user: TestUser;
    beforeAll(async () => {
      user = await ensureTestUser();
    });

    it('builds the same Dockerfile rootless, with container ids kept through the subuid map', async () => {
      const ctx = await makeContext();
      const work = await makeTempDir('tsbuild-user', { owner: user });
      const out = join(work, 'layout');
      const res = await runTsbuild(['build', '--progress', 'plain', '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${out},tar=false`, ctx], {
        user,
        cwd: work,
        env: { TSBUILD_ROOT: join(work, 'store') },
      });
      expect(res.code, res.stderr).toBe(0);
      await assertSpineImage(out);

      // images and push run outside the namespace, on the same rootless store.
      const asUser = { user, cwd: work, env: { TSBUILD_ROOT: join(work, 'store') } };
      const images = await runTsbuild(['images'], asUser);
      expect(images.code, images.stderr).toBe(0);
      expect(images.stdout).toMatch(/app\s+1\s+[0-9a-f]{12}/);
      const push = await runTsbuild(['push', 'app:1', `oci:${join(work, 'pushed')}:v1`], asUser);
      expect(push.code, push.stderr).toBe(0);
      expect(await layoutManifestDigest(join(work, 'pushed'))).toBe(await layoutManifestDigest(out));
    });
  });

  it('gives the same image digest for two builds with SOURCE_DATE_EPOCH, in different stores and directories', async () => {
    const digests: string[] = [];
    for (let i = 0; i < 2; i++) {
      const ctx = await makeContext();
      const store = await makeTempDir('tsbuild-store');
      const out = join(await makeTempDir('tsbuild-out'), 'layout');
      const res = await runTsbuild(['build', '-q', '--root', store, '-t', 'app:1', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${out},tar=false`, ctx], {
        env: { SOURCE_DATE_EPOCH: '1700000000' },
      });
      expect(res.code, res.stderr).toBe(0);
      digests.push(await layoutManifestDigest(out));
    }
    expect(digests[0]).toBe(digests[1]);
  });

  it('reports a failing RUN with its line and exit code, and leaves no mount or temp dir behind', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo ok\nRUN echo about to fail && exit 3\n`);
    const store = await makeTempDir('tsbuild-store');
    const res = await runTsbuild(['build', '--progress', 'plain', '--root', store, '-t', 'bad:1', ctx]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('about to fail');
    expect(res.stderr).toMatch(/Dockerfile:3:1: RUN .*exit code: 3/);
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const mounts = await readFile('/proc/self/mounts', 'utf8');
    expect(mounts).not.toContain(store);
    expect(await readdir(join(store, 'tmp')).catch(() => [])).toEqual([]);
    const images = await runTsbuild(['images', '--root', store]);
    expect(images.stdout).not.toContain('bad');
  });

  it('refuses an instruction it does not support yet with its location, before running anything', async () => {
    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo should-not-run\nRUN --device=/dev/fuse true\n`);
    const res = await runTsbuild(['build', '--progress', 'plain', '--root', await makeTempDir('tsbuild-store'), ctx]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/Dockerfile:3:1: .*RUN --device is not supported yet/);
    expect(res.stderr).not.toContain('should-not-run');
  });
});

