/**
 * Interop with skopeo both ways: tsbuild pulls what skopeo pushed (OCI and Docker schema2,
 * single manifests and an index), and skopeo copies what tsbuild pushed, digests unchanged.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { busyboxLayout, startRegistry, type BusyboxLayout, type TestRegistry } from '../../helpers/registry.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { treeListing } from '../../helpers/tree.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

const skopeo = (...args: string[]) => execChecked('skopeo', ['--insecure-policy', ...args]);

async function rawManifest(ref: string): Promise<{ digest: string; json: { mediaType?: string } }> {
  const { stdout } = await skopeo('inspect', '--raw', '--tls-verify=false', ref);
  return { digest: `sha256:${createHash('sha256').update(stdout).digest('hex')}`, json: JSON.parse(stdout) as { mediaType?: string } };
}

describe('interop with skopeo through a registry', () => {
  let registry: TestRegistry;
  let layout: BusyboxLayout;
  let env: Record<string, string>;

  beforeAll(async () => {
    registry = await startRegistry();
    layout = await busyboxLayout();
    const dir = await makeTempDir('tsbuild-interop');
    env = { TSBUILD_ROOT: join(dir, 'store'), DOCKER_CONFIG: join(dir, 'docker') };
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('pulls an OCI image and a Docker schema2 image that skopeo pushed, with their digests', async () => {
    const oci = `${registry.host}/interop/oci:1`;
    const v2s2 = `${registry.host}/interop/v2s2:1`;
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:${layout.tag}`, `docker://${oci}`);
    await skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout.dir}:${layout.tag}`, `docker://${v2s2}`);
    const schema2 = await rawManifest(`docker://${v2s2}`);
    expect(schema2.json.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    for (const [ref, digest] of [[oci, layout.digest], [v2s2, schema2.digest]] as const) {
      const r = await runTsbuild(['pull', '-q', ref], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(digest);
    }
    const inspect = JSON.parse((await runTsbuild(['inspect', '--format', 'json', v2s2], { env })).stdout) as { mediaType: string };
    expect(inspect.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
  });

  it('pulls the host platform out of an index skopeo pushed with --multi-arch all', async () => {
    // An OCI layout whose tag names an index with the busybox manifest for linux/amd64 and arm64.
    const dir = join(await makeTempDir('tsbuild-index'), 'layout');
    await cp(layout.dir, dir, { recursive: true });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ mediaType: string; digest: string; size: number }> };
    const image = index.manifests[0]!;
    const child = { mediaType: image.mediaType, digest: image.digest, size: image.size };
    const multi = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { ...child, platform: { architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux' } },
        { ...child, platform: { architecture: 's390x', os: 'linux' } },
      ],
    }));
    const multiDigest = `sha256:${createHash('sha256').update(multi).digest('hex')}`;
    await writeFile(join(dir, 'blobs/sha256', multiDigest.slice(7)), multi);
    index.manifests.push({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: multiDigest, size: multi.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } } as never);
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    const ref = `${registry.host}/interop/multi:1`;
    await skopeo('copy', '--dest-tls-verify=false', '--multi-arch', 'all', `oci:${dir}:multi`, `docker://${ref}`);
    expect((await rawManifest(`docker://${ref}`)).digest).toBe(multiDigest);
    const r = await runTsbuild(['pull', '-q', ref], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(layout.digest);
  });

  it('pulls docker.io images from a mirror given in TSBUILD_REGISTRY_MIRRORS', async () => {
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:${layout.tag}`, `docker://${registry.host}/library/busybox:mirrored`);
    const r = await runTsbuild(['pull', '-q', 'busybox:mirrored'], { env: { ...env, TSBUILD_REGISTRY_MIRRORS: registry.host } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(layout.digest);
    const images = JSON.parse((await runTsbuild(['images', '--json'], { env })).stdout) as Array<{ name: string }>;
    expect(images.map((i) => i.name)).toContain('docker.io/library/busybox:mirrored');
  });

  it('a cold build FROM the layout or the registry unpacks its base as a build from stored blobs does: same image and layer, clean store', async () => {
    const ref = `${registry.host}/interop/cold:1`;
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:${layout.tag}`, `docker://${ref}`);
    const ctx = await makeTempDir('tsbuild-interop-cold');
    // The RUN's output, and so the image digest, depends on the unpacked base's names, modes, owners, sizes and dates.
    await writeFile(join(ctx, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nRUN ls -lnR /bin /etc | md5sum > /base.md5\n');
    const build = async (root: string, base: string, ...extra: string[]): Promise<string> => {
      const r = await runTsbuild(['build', '--root', root, '-q', '--source-date-epoch', '1700000000', '--build-arg', `BASE=${base}`, ...extra, ctx]);
      expect(r.stderr).toBe('');
      const check = await runTsbuild(['fsck', '--root', root]);
      expect(check.stdout).toMatch(/\nconsistent\n$/);
      expect(check.code).toBe(0);
      return r.stdout.trim();
    };
    // As before: `tsbuild pull` stores the blobs and unpacks nothing, so the build unpacks the
    // base from the store, after the blob was stored.
    const stored = await makeTempDir('tsbuild-interop-stored');
    expect((await runTsbuild(['pull', '--root', stored, '-q', ref])).code).toBe(0);
    const want = await build(stored, ref);
    const [viaRegistry, viaLayout] = [await makeTempDir('tsbuild-interop-cold-reg'), await makeTempDir('tsbuild-interop-cold-oci')];
    expect(await build(viaRegistry, ref)).toBe(want);
    expect(await build(viaLayout, 'base', '--build-context', `base=oci-layout://${layout.dir}:${layout.tag}`)).toBe(want);

    const blob = (d: string): Promise<string> => readFile(join(layout.dir, 'blobs', 'sha256', d.slice(7)), 'utf8');
    const config = JSON.parse(await blob((JSON.parse(await blob(layout.digest)) as { config: { digest: string } }).config.digest)) as { rootfs: { diff_ids: string[] } };
    const base = (root: string): Promise<string[]> => treeListing(join(root, 'layers', config.rootfs.diff_ids[0]!.slice(7), 'fs'));
    const unpacked = await base(stored);
    expect(unpacked.length).toBeGreaterThan(100);
    expect(await base(viaRegistry)).toEqual(unpacked);
    expect(await base(viaLayout)).toEqual(unpacked);
  });

  it('skopeo copies what tsbuild pushed, to a registry and to an OCI layout and archive, digests kept', async () => {
    const src = `${registry.host}/interop/oci:1`;
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout.dir}:${layout.tag}`, `docker://${src}`);
    expect((await runTsbuild(['pull', '-q', src], { env })).code).toBe(0);
    const pushed = `${registry.host}/interop/pushed:2`;
    const out = await makeTempDir('tsbuild-interop-out');
    for (const dest of [`docker://${pushed}`, `oci:${join(out, 'layout')}:2`, `oci-archive:${join(out, 'img.tar')}:2`]) {
      const r = await runTsbuild(['push', src, dest], { env });
      expect(r.code, `${dest}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toBe(layout.digest);
    }
    await skopeo('copy', '--src-tls-verify=false', `docker://${pushed}`, `oci:${join(out, 'viaskopeo')}:x`);
    await skopeo('copy', `oci:${join(out, 'layout')}:2`, `oci:${join(out, 'viaskopeo')}:y`);
    await skopeo('copy', `oci-archive:${join(out, 'img.tar')}:2`, `oci:${join(out, 'viaskopeo')}:z`);
    const index = JSON.parse(await readFile(join(out, 'viaskopeo', 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests.map((m) => m.digest)).toEqual([layout.digest, layout.digest, layout.digest]);
    // umoci unpacks the layout tsbuild wrote.
    await execChecked('umoci', ['unpack', '--image', `${join(out, 'layout')}:2`, join(out, 'bundle')]);
    expect((await readFile(join(out, 'bundle', 'config.json'), 'utf8')).length).toBeGreaterThan(0);
  });

  it('skopeo and umoci read a big layer tsbuild gzipped as many members (compressed in parallel, random stretches stored)', async () => {
    const ctx = await makeTempDir('tsbuild-interop-big');
    await mkdir(join(ctx, 'data'));
    const text = Buffer.from(Array.from({ length: 120_000 }, (_, i) => `line ${i} of a compressible file\n`).join(''));
    const random = randomBytes(3 * 1024 * 1024 + 4321);
    await writeFile(join(ctx, 'data', 'text'), text);
    await writeFile(join(ctx, 'data', 'random'), random);
    await writeFile(join(ctx, 'Dockerfile'), `FROM base\nCOPY data /data\n`);
    const out = join(await makeTempDir('tsbuild-interop-big-out'), 'layout');
    const r = await runTsbuild(['build', '-q', '--build-context', `base=oci-layout://${layout.dir}:${layout.tag}`, '-t', 'big:1', '-o', `type=oci,dest=${out},tar=false`, ctx], { env });
    expect(r.code, r.stderr).toBe(0);
    // the layer holds several gzip members: more than one 1 MiB segment went in
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const blob = (d: string) => join(out, 'blobs', 'sha256', d.slice('sha256:'.length));
    const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), 'utf8')) as { layers: Array<{ digest: string; size: number }> };
    const top = manifest.layers[manifest.layers.length - 1]!;
    expect(top.size).toBeGreaterThan(3 * 1024 * 1024);
    const gz = await readFile(blob(top.digest));
    let members = 0;
    for (let i = 0; (i = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0]), i)) >= 0; i++) members++;
    expect(members).toBeGreaterThanOrEqual(4);
    // skopeo re-reads and checks every blob on copy; umoci gunzips the layers (Go's multistream reader).
    await skopeo('copy', `oci:${out}:1`, `oci:${join(out, '..', 'copy')}:x`);
    const rootfs = await unpackOciImage(out, '1');
    expect((await readFile(join(rootfs, 'data', 'text'))).equals(text)).toBe(true);
    expect((await readFile(join(rootfs, 'data', 'random'))).equals(random)).toBe(true);
  });
});
