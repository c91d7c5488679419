import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaType } from '../../../src/image/mediaTypes.js';
import { parsePlatform } from '../../../src/image/platform.js';
import { parseReference } from '../../../src/image/reference.js';
import { copyImage } from '../../../src/transport/copyImage.js';
import { OciLayoutDestination, mergeIndexEntries, ociNameForImage } from '../../../src/transport/ociLayoutDestination.js';
import { readAll, sha256Digest } from '../../../src/transport/digestStream.js';
import { MAX_MANIFEST_BYTES } from '../../../src/transport/manifestBlob.js';
import { OciLayoutSource, ociBlobPath } from '../../../src/transport/ociLayoutSource.js';
import type { Descriptor } from '../../../src/image/types.js';
import { MemorySource } from './memorySource.js';

function smallImage(src: MemorySource, text: string) {
  const layer = src.add(text, MediaType.ociLayerTar);
  const config = src.add({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }, MediaType.ociConfig);
  const m = src.add({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }, MediaType.ociManifest);
  src.setTop(m);
  return m;
}

const amd64 = parsePlatform('linux/amd64');

describe('OCI layout destination and source', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-oci-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a layout dir with BuildKit-style names, keeps other names, and reads it back', async () => {
    const layout = join(dir, 'layout');
    const src = new MemorySource();
    const m1 = smallImage(src, 'one');
    await copyImage(src, new OciLayoutDestination({ path: layout, tar: false, names: [ociNameForImage(parseReference('app:1'))] }), { platform: amd64 });
    const m2 = smallImage(src, 'two');
    await copyImage(src, new OciLayoutDestination({ path: layout, tar: false, names: [ociNameForImage(parseReference('app:2'))] }), { platform: amd64 });
    const m3 = smallImage(src, 'three');
    await copyImage(src, new OciLayoutDestination({ path: layout, tar: false, names: [{ refName: '1' }] }), { platform: amd64 });

    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    expect(index.manifests.map((d: { digest: string }) => d.digest)).toEqual([m2.digest, m3.digest]);
    expect(index.manifests[0].annotations).toEqual({
      'io.containerd.image.name': 'docker.io/library/app:2',
      'org.opencontainers.image.ref.name': '2',
    });
    expect(JSON.parse(await readFile(join(layout, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect((await readdir(join(layout, 'blobs', 'sha256'))).filter((n) => n.startsWith('.'))).toEqual([]);

    const back = new OciLayoutSource({ path: layout, tag: '1' });
    expect((await back.getManifest()).digest).toBe(m3.digest);
    expect((await new OciLayoutSource({ path: layout, tag: 'docker.io/library/app:2' }).descriptor()).digest).toBe(m2.digest);
    await expect(new OciLayoutSource({ path: layout }).getManifest()).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND', hint: expect.stringContaining('2') });
    await expect(new OciLayoutSource({ path: layout, tag: 'nope' }).getManifest()).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    expect(m1.digest).not.toBe(m3.digest);
  });

  it('writes a tar only at commit and leaves nothing behind when the copy fails', async () => {
    const out = join(dir, 'img.tar');
    const src = new MemorySource();
    smallImage(src, 'data');
    const broken = new MemorySource();
    const layer = { mediaType: MediaType.ociLayerTar, digest: `sha256:${'c'.repeat(64)}`, size: 3 };
    const cfg = broken.add({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }, MediaType.ociConfig);
    broken.blobs.set(layer.digest, { bytes: Buffer.from('abc'), mediaType: layer.mediaType }); // bytes do not hash to the digest
    broken.setTop(broken.add({ schemaVersion: 2, config: cfg, layers: [layer] }, MediaType.ociManifest));
    await expect(copyImage(broken, new OciLayoutDestination({ path: out, tar: true }), { platform: amd64 })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await readdir(dir)).toEqual([]);

    const r = await copyImage(src, new OciLayoutDestination({ path: out, tar: true, names: [{ refName: 'v1' }] }), { platform: amd64 });
    expect(await readdir(dir)).toEqual(['img.tar']);
    const back = new OciLayoutSource({ path: out, tag: 'v1', archive: true });
    expect((await back.getManifest()).digest).toBe(r.manifestDigest);
    await back.close();
  });

  it('source refuses a tampered blob while streaming', async () => {
    const layout = join(dir, 'l');
    const src = new MemorySource();
    const m = smallImage(src, 'payload');
    await copyImage(src, new OciLayoutDestination({ path: layout, tar: false }), { platform: amd64 });
    const manifest = JSON.parse(src.blobs.get(m.digest)!.bytes.toString());
    const layerPath = join(layout, 'blobs', 'sha256', manifest.layers[0].digest.slice(7));
    await writeFile(layerPath, 'PAYLOAD');
    const s = new OciLayoutSource({ path: layout });
    const chunks: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of (await s.getBlob(manifest.layers[0])) as Readable) chunks.push(c);
      })(),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('reads a manifest or config whole with the errors of reading it through getBlob', async () => {
    const layout = join(dir, 'l');
    const src = new MemorySource();
    const m = smallImage(src, 'payload');
    await copyImage(src, new OciLayoutDestination({ path: layout, tar: false }), { platform: amd64 });
    const config = JSON.parse(src.blobs.get(m.digest)!.bytes.toString()).config as Descriptor;
    const s = new OciLayoutSource({ path: layout });
    const what = 'config of test';
    const whole = (d: Descriptor, limit = 1000) => s.readBlob(d, limit, what);
    const streamed = async (d: Descriptor, limit = 1000) => readAll(await s.getBlob(d), limit, what);
    /** Both ways fail alike; returns the error. */
    const failure = async (d: Descriptor, limit?: number) => {
      const a = await whole(d, limit).then(() => undefined, (e: Error) => e);
      const b = await streamed(d, limit).then(() => undefined, (e: Error) => e);
      expect(a).toBeDefined();
      expect({ code: (a as { code?: string }).code, message: a?.message }).toEqual({ code: (b as { code?: string }).code, message: b?.message });
      return a as Error & { code: string };
    };

    expect((await whole(config)).equals(await streamed(config))).toBe(true);
    expect(await failure({ ...config, size: config.size - 1 })).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(`more than the expected ${config.size - 1} bytes`) });
    expect(await failure({ ...config, size: config.size + 1 })).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(`got ${config.size} bytes`) });
    expect(await failure(config, config.size - 1)).toMatchObject({ code: 'MANIFEST_INVALID', message: `reading ${what}: larger than ${config.size - 1} bytes` });
    expect(await failure({ ...config, digest: `sha256:${'e'.repeat(64)}` })).toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    expect(await failure({ ...config, digest: 'sha256:../../x' })).toMatchObject({ code: 'MANIFEST_INVALID' });
    const path = ociBlobPath(layout, config.digest);
    const bytes = await readFile(path);
    bytes[0] = bytes[0]! ^ 1;
    await writeFile(path, bytes);
    expect(await failure(config)).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining(`got ${sha256Digest(bytes)}`) });
    await rm(path);
    await mkdir(path);
    expect(await failure(config)).toMatchObject({ code: 'EISDIR' });
  });

  it('refuses a manifest larger than the cap, and a corrupt one, with the same codes as before', async () => {
    const layout = join(dir, 'l');
    const src = new MemorySource();
    const m = smallImage(src, 'payload');
    await copyImage(src, new OciLayoutDestination({ path: layout, tar: false }), { platform: amd64 });
    // index.json names a manifest that is correctly hashed but over the 4 MiB cap.
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, pad: 'x'.repeat(MAX_MANIFEST_BYTES) }));
    const bigDigest = sha256Digest(big);
    await writeFile(ociBlobPath(layout, bigDigest), big);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    index.manifests = [{ mediaType: MediaType.ociManifest, digest: bigDigest, size: big.length }];
    await writeFile(join(layout, 'index.json'), JSON.stringify(index));
    await expect(new OciLayoutSource({ path: layout }).getManifest()).rejects.toMatchObject({
      code: 'MANIFEST_INVALID',
      message: `reading manifest ${bigDigest} of oci:${layout}: larger than ${MAX_MANIFEST_BYTES} bytes`,
    });
    // The right manifest with a byte flipped.
    index.manifests = [m];
    await writeFile(join(layout, 'index.json'), JSON.stringify(index));
    const path = ociBlobPath(layout, m.digest);
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = 0x20;
    await writeFile(path, bytes);
    await expect(new OciLayoutSource({ path: layout }).getManifest()).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: `verifying blob ${m.digest} of oci:${layout}: got ${sha256Digest(bytes)}, expected ${m.digest}`,
    });
  });

  it('mergeIndexEntries replaces same names and keeps others', () => {
    const d = (c: string) => ({ mediaType: MediaType.ociManifest, digest: `sha256:${c.repeat(64)}`, size: 1 });
    const existing = [
      { ...d('a'), annotations: { 'org.opencontainers.image.ref.name': 'x' } },
      { ...d('b'), annotations: { 'org.opencontainers.image.ref.name': 'y' } },
      d('c'),
    ];
    const merged = mergeIndexEntries(existing, d('c'), [{ refName: 'y' }]);
    expect(merged.map((e) => [e.digest[7], e.annotations?.['org.opencontainers.image.ref.name']])).toEqual([['a', 'x'], ['c', 'y']]);
  });
});
