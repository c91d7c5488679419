/**
 * FROM --platform: the stage's base is picked from an image index by platform (here an OCI
 * layout holding an amd64 and an arm64 image), the stage's config carries that platform, and a
 * RUN for a platform this machine cannot execute fails with a clear message unless a
 * binfmt_misc handler is registered.
 */
import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { enabledBinfmtHandlers } from '../../../src/build/platformCheck.js';
import { execChecked } from '../../helpers/exec.js';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Record<string, string>;
}

describe('platforms', () => {
  it('selects the FROM --platform base from an index and refuses a foreign RUN without emulation', async () => {
    const store = await makeTempDir('tsbuild-store');
    // Two single-platform images, each marking its platform in a file.
    const layouts: Record<string, string> = {};
    for (const arch of ['amd64', 'arm64']) {
      const ctx = await makeTempDir('tsbuild-ctx');
      await writeFile(join(ctx, 'marker'), `${arch}\n`);
      await writeFile(join(ctx, 'Dockerfile'), `FROM --platform=linux/${arch} scratch\nCOPY marker /marker\n`);
      const out = join(await makeTempDir('tsbuild-out'), 'layout');
      const res = await runTsbuild(['build', '-q', '--root', store, '-o', `type=oci,dest=${out},tar=false`, ctx]);
      expect(res.code, res.stderr).toBe(0);
      layouts[arch] = out;
    }
    // One layout with an image index over both, tagged "multi".
    const multi = join(await makeTempDir('tsbuild-multi'), 'layout');
    await cp(layouts['amd64'] as string, multi, { recursive: true });
    await cp(join(layouts['arm64'] as string, 'blobs'), join(multi, 'blobs'), { recursive: true });
    const manifests: Desc[] = [];
    for (const arch of ['amd64', 'arm64']) {
      const index = JSON.parse(await readFile(join(layouts[arch] as string, 'index.json'), 'utf8')) as { manifests: Desc[] };
      const m = index.manifests[0] as Desc;
      manifests.push({ mediaType: m.mediaType, digest: m.digest, size: m.size, platform: { os: 'linux', architecture: arch } });
    }
    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
    const indexDigest = createHash('sha256').update(indexBytes).digest('hex');
    await writeFile(join(multi, 'blobs/sha256', indexDigest), indexBytes);
    await writeFile(
      join(multi, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${indexDigest}`, size: indexBytes.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }],
      }),
    );

    const ctx = await makeTempDir('tsbuild-ctx');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM --platform=linux/arm64 base\nLABEL picked=yes\n');
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    let res = await runTsbuild(['build', '-q', '--root', store, '--build-context', `base=oci-layout://${multi}:multi`, '-t', 'picked:1', '-o', `type=oci,dest=${out},tar=false`, ctx]);
    expect(res.code, res.stderr).toBe(0);
    const { stdout } = await execChecked('skopeo', ['inspect', '--config', `oci:${out}:1`]);
    expect((JSON.parse(stdout) as { architecture: string }).architecture).toBe('arm64');
    const rootfs = await unpackOciImage(out, '1');
    expect(await readFile(join(rootfs, 'marker'), 'utf8')).toBe('arm64\n');

    // Without --platform the host's image is picked from the same index.
    await writeFile(join(ctx, 'Dockerfile'), 'FROM base\nLABEL picked=yes\n');
    res = await runTsbuild(['build', '-q', '--root', store, '--build-context', `base=oci-layout://${multi}:multi`, '-o', `type=oci,dest=${out},tar=false`, '-t', 'host:1', ctx]);
    expect(res.code, res.stderr).toBe(0);
    expect(await readFile(join(await unpackOciImage(out, '1'), 'marker'), 'utf8')).toBe('amd64\n');

    // A RUN in the arm64 stage: on an amd64 machine it needs a binfmt handler for aarch64.
    await writeFile(join(ctx, 'Dockerfile'), 'FROM --platform=linux/arm64 base\nRUN true\n');
    res = await runTsbuild(['build', '-q', '--root', store, '--build-context', `base=oci-layout://${multi}:multi`, ctx]);
    const emulated = (await enabledBinfmtHandlers()).some((h) => h.endsWith('aarch64'));
    if (process.arch === 'x64' && !emulated) {
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/Dockerfile:2:1: RUN .*cannot run a linux\/arm64 RUN step on this linux\/amd64 machine: no binfmt_misc handler for arm64 is registered/);
    } else {
      // Emulated (or native): the RUN gets as far as executing, and scratch has no `true`.
      expect(res.stderr).not.toMatch(/no binfmt_misc handler/);
    }
  });
});
