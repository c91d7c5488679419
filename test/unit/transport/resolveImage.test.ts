import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MediaType } from '../../../src/image/mediaTypes.js';
import { parsePlatform } from '../../../src/image/platform.js';
import { readAll, verifyingStream } from '../../../src/transport/digestStream.js';
import { resolveImage } from '../../../src/transport/resolveImage.js';
import { MemorySource } from './memorySource.js';

function image(src: MemorySource, arch: string, layers = 1, diffIds = layers) {
  const config = src.add(
    { architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: Array.from({ length: diffIds }, (_, i) => `sha256:${String(i).repeat(64)}`) } },
    MediaType.ociConfig,
  );
  const layerDescs = Array.from({ length: layers }, (_, i) => src.add(`layer ${arch} ${i}`, MediaType.ociLayerGzip));
  return src.add({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: layerDescs }, MediaType.ociManifest);
}

describe('resolveImage', () => {
  it('follows an index to the requested platform', async () => {
    const src = new MemorySource();
    const amd = image(src, 'amd64');
    const arm = image(src, 'arm64', 2);
    const att = src.add({ schemaVersion: 2, config: { mediaType: 'x', digest: amd.digest, size: 1 }, layers: [] }, MediaType.ociManifest);
    const idx = src.add(
      {
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: [
          { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
          { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { ...att, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
        ],
      },
      MediaType.ociIndex,
    );
    src.setTop(idx);
    const r = await resolveImage(src, parsePlatform('linux/arm64'));
    expect(r.manifestBlob.digest).toBe(arm.digest);
    expect(r.manifest.layers).toHaveLength(2);
    expect(r.config.architecture).toBe('arm64');
    expect(r.index?.blob.digest).toBe(idx.digest);
    const a = await resolveImage(src, parsePlatform('linux/amd64'));
    expect(a.config.architecture).toBe('amd64');
  });

  it('says which platforms an index offers when the wanted one is missing', async () => {
    const src = new MemorySource();
    const amd = image(src, 'amd64');
    src.setTop(src.add({ schemaVersion: 2, manifests: [{ ...amd, platform: { os: 'linux', architecture: 'amd64' } }] }, MediaType.dockerManifestList));
    await expect(resolveImage(src, parsePlatform('linux/s390x'))).rejects.toMatchObject({
      code: 'PLATFORM_NOT_FOUND',
      message: expect.stringMatching(/no image for linux\/s390x; the index offers linux\/amd64/),
    });
  });

  it('refuses a config whose diff_ids do not match the layers', async () => {
    const src = new MemorySource();
    src.setTop(image(src, 'amd64', 2, 1));
    await expect(resolveImage(src, parsePlatform('linux/amd64'))).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      message: expect.stringMatching(/1 layer diff_ids but the manifest has 2 layers/),
    });
  });

  it('refuses artifacts, unknown layer types and schema 1', async () => {
    const src = new MemorySource();
    const cfg = src.add({}, 'application/vnd.cncf.helm.config.v1+json');
    src.setTop(src.add({ schemaVersion: 2, config: cfg, layers: [] }, MediaType.ociManifest));
    await expect(resolveImage(src, parsePlatform('linux/amd64'))).rejects.toMatchObject({ code: 'MANIFEST_INVALID', message: expect.stringMatching(/not a container image/) });
    const cfg2 = src.add({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ['sha256:x'] } }, MediaType.ociConfig);
    const weird = src.add('x', 'application/x-weird');
    src.setTop(src.add({ schemaVersion: 2, config: cfg2, layers: [weird] }, MediaType.ociManifest));
    await expect(resolveImage(src, parsePlatform('linux/amd64'))).rejects.toMatchObject({ message: expect.stringMatching(/unsupported layer media type/) });
    src.setTop(src.add({ schemaVersion: 1 }, MediaType.dockerManifestV1Signed));
    await expect(resolveImage(src, parsePlatform('linux/amd64'))).rejects.toMatchObject({ message: expect.stringMatching(/schema 1/) });
  });
});

describe('verifyingStream', () => {
  const good = Buffer.from('hello');
  const digest = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
  it('passes matching bytes and fails on wrong bytes, short or long streams', async () => {
    expect((await readAll(Readable.from([good]).pipe(verifyingStream({ digest, size: 5 }, 'x')), 100, 'x')).toString()).toBe('hello');
    const run = (b: Buffer, size: number) => readAll(Readable.from([b]).pipe(verifyingStream({ digest, size }, 'x')), 100, 'x');
    await expect(run(Buffer.from('hellO'), 5)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(run(Buffer.from('hell'), 5)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: /got 4 bytes/ });
    await expect(run(Buffer.from('hello!'), 5)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: /more than/ });
  });
});
