/**
 * Every -o output of `tsbuild build`, checked by the tools users load them with: skopeo reads
 * the docker archive and OCI layouts (gzip and zstd, OCI and Docker media types), umoci
 * unpacks the OCI layout, the filesystem outputs have whiteouts applied, --push with
 * --metadata-file and --iidfile agree with what the registry holds.
 */
import { lstat, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked, execCommand } from '../../helpers/exec.js';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

const DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN mkdir -p /data/gone && echo a > /data/a && echo b > /data/b && echo c > /data/gone/c
RUN rm -rf /data/b /data/gone && ln -s a /data/link
CMD ["cat", "/data/a"]
`;

interface Manifest {
  mediaType?: string;
  config: { digest: string; mediaType: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

describe('build outputs', () => {
  let registry: TestRegistry;
  let base: string;
  let ctx: string;
  let out: string;
  let build: { code: number; stdout: string; stderr: string };
  let env: Record<string, string>;

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
    ctx = await makeTempDir('tsbuild-outputs-ctx');
    out = await makeTempDir('tsbuild-outputs');
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
    env = { TSBUILD_ROOT: join(out, 'store'), DOCKER_CONFIG: join(out, 'docker') };
    build = await runTsbuild([
      'build', '--build-arg', `BASE=${base}`, '-t', `${registry.host}/out/app:1`, '--progress', 'plain',
      '-o', `type=local,dest=${join(out, 'rootfs')}`,
      '-o', `type=tar,dest=${join(out, 'rootfs.tar')}`,
      '-o', `type=docker,dest=${join(out, 'docker.tar')}`,
      '-o', `type=oci,dest=${join(out, 'oci')},tar=false`,
      '-o', `type=oci,dest=${join(out, 'zstd.tar')},compression=zstd,compression-level=5`,
      '-o', `type=registry,name=${registry.host}/out/schema2:1,oci-mediatypes=false`,
      '--push', '--iidfile', join(out, 'iid'), '--metadata-file', join(out, 'metadata.json'),
      ctx,
    ], { env });
  }, 240_000);
  afterAll(async () => {
    await registry?.stop();
  });

  it('builds and writes every output', () => {
    expect(build.code, build.stderr).toBe(0);
  });

  it('type=local and type=tar hold the final filesystem with whiteouts applied', async () => {
    const root = join(out, 'rootfs');
    expect(await readFile(join(root, 'data/a'), 'utf8')).toBe('a\n');
    expect((await lstat(join(root, 'data/link'))).isSymbolicLink()).toBe(true);
    expect((await readdir(join(root, 'data'))).sort()).toEqual(['a', 'link']);
    expect((await lstat(join(root, 'bin/busybox'))).isFile()).toBe(true);
    const { stdout } = await execChecked('tar', ['-tf', join(out, 'rootfs.tar')]);
    const names = stdout.split('\n').map((n) => n.replace(/^\.\//, '').replace(/\/$/, ''));
    expect(names).toContain('data/a');
    expect(names).toContain('bin/busybox');
    expect(names.filter((n) => n.startsWith('data/b') || n.includes('gone') || n.includes('.wh.'))).toEqual([]);
  });

  it('type=docker is a docker archive that skopeo reads, with the same image ID', async () => {
    const iid = (await readFile(join(out, 'iid'), 'utf8')).trim();
    expect(iid).toBe(build.stdout.trim());
    const archive = join(out, 'docker.tar');
    const archived = JSON.parse((await execChecked('tar', ['-xOf', archive, 'manifest.json'])).stdout) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    expect(archived[0]!.RepoTags).toEqual([`${registry.host}/out/app:1`]);
    expect(archived[0]!.Config).toBe(`${iid.slice(7)}.json`);
    const configBytes = await execCommand('sh', ['-c', `tar -xOf '${archive}' '${archived[0]!.Config}' | sha256sum`]);
    expect(`sha256:${configBytes.stdout.split(' ')[0]}`).toBe(iid);
    // skopeo hashes each (uncompressed) layer.tar against the config's diff_ids as it copies.
    const { stdout } = await execChecked('skopeo', ['inspect', '--config', `docker-archive:${archive}`]);
    const config = JSON.parse(stdout) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toHaveLength(archived[0]!.Layers.length);
    const copied = await execCommand('skopeo', ['--insecure-policy', 'copy', `docker-archive:${archive}`, `oci:${join(out, 'from-archive')}:x`]);
    expect(copied.code, copied.stderr).toBe(0);
  });

  it('podman load reads the docker archive and the push to docker-archive:', async () => {
    const iid = build.stdout.trim();
    // Rootful podman with its own throwaway storage: vfs needs no overlay or fuse support.
    const storage = await makeTempDir('tsbuild-podman');
    const podman = (...args: string[]) =>
      execCommand('podman', ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', ...args]);
    const loaded = await podman('load', '-i', join(out, 'docker.tar'));
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stdout).toContain(`${registry.host}/out/app:1`);
    const images = await podman('images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}');
    expect(images.stdout).toContain(`${iid.slice(7)} ${registry.host}/out/app:1`);
    const archive = join(out, 'pushed-archive.tar');
    const push = await runTsbuild(['push', `${registry.host}/out/app:1`, `docker-archive:${archive}:again/app:2`], { env });
    expect(push.code, push.stderr).toBe(0);
    const again = await podman('load', '-i', archive);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('again/app:2');
  });

  it('the OCI layout is read by skopeo and unpacked by umoci', async () => {
    const bundle = join(out, 'bundle');
    await execChecked('umoci', ['unpack', '--image', `${join(out, 'oci')}:1`, bundle]);
    expect(await readFile(join(bundle, 'rootfs/data/a'), 'utf8')).toBe('a\n');
    await expect(lstat(join(bundle, 'rootfs/data/b'))).rejects.toThrow();
    const { stdout } = await execChecked('skopeo', ['inspect', `oci:${join(out, 'oci')}:1`]);
    expect(JSON.parse(stdout).Layers.length).toBeGreaterThan(1);
  });

  it('compression=zstd and oci-mediatypes=false change the layers and media types, not the image ID', async () => {
    const zstd = JSON.parse((await execChecked('skopeo', ['inspect', '--raw', `oci-archive:${join(out, 'zstd.tar')}:1`])).stdout) as Manifest;
    expect(zstd.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+zstd')).toBe(true);
    expect(zstd.config.digest).toBe(build.stdout.trim());
    // skopeo decompresses and checks every zstd layer against the config's diff_ids.
    const check = await execCommand('skopeo', ['--insecure-policy', 'copy', `oci-archive:${join(out, 'zstd.tar')}:1`, `dir:${join(out, 'zstd-dir')}`]);
    expect(check.code, check.stderr).toBe(0);
    const v2s2 = JSON.parse((await execChecked('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/out/schema2:1`])).stdout) as Manifest;
    expect(v2s2.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(v2s2.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(v2s2.layers.every((l) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(true);
  });

  it('an image written with compression=zstd is a base for the next build (its layers unpack with zstd)', async () => {
    const layout = await makeTempDir('tsbuild-zstd-layout');
    await execChecked('tar', ['-xf', join(out, 'zstd.tar'), '-C', layout]);
    const next = await makeTempDir('tsbuild-zstd-next');
    await writeFile(join(next, 'Dockerfile'), 'FROM zbase\nRUN cat /data/a > /copied\n');
    // A new store: every base layer is unpacked from its zstd blob.
    const r = await runTsbuild(['build', '--build-context', `zbase=oci-layout://${layout}:1`, '-t', 'from-zstd:1', '-o', `type=local,dest=${join(next, 'out')}`, next], {
      env: { ...env, TSBUILD_ROOT: join(next, 'store') },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(next, 'out', 'copied'), 'utf8')).toBe('a\n');
  });

  it('--push pushed the -t name and --metadata-file says what buildx would', async () => {
    const metadata = JSON.parse(await readFile(join(out, 'metadata.json'), 'utf8')) as Record<string, unknown>;
    // The digest is the image's as the first image output wrote it (here: the docker archive, unconverted).
    const { stdout } = await execChecked('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/out/app:1`]);
    const digest = (JSON.parse(stdout) as { Digest: string }).Digest;
    expect(metadata['containerimage.digest']).toBe(digest);
    expect(metadata['containerimage.config.digest']).toBe(build.stdout.trim());
    expect(metadata['image.name']).toBe(`${registry.host}/out/schema2:1,${registry.host}/out/app:1`);
    expect(metadata['containerimage.descriptor']).toMatchObject({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
  });
});
