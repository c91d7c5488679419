import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaType } from '../../../src/image/mediaTypes.js';
import { parsePlatform } from '../../../src/image/platform.js';
import { copyImage } from '../../../src/transport/copyImage.js';
import { sha256Digest } from '../../../src/transport/digestStream.js';
import { OciLayoutSource } from '../../../src/transport/ociLayoutSource.js';
import { openDestination, openSource } from '../../../src/transport/openDestination.js';
import { RegistryClient } from '../../../src/transport/registryClient.js';
import { RegistryDestination } from '../../../src/transport/registryDestination.js';
import { StoreImageSource, type BlobReader } from '../../../src/transport/storeSource.js';

/** A directory-backed stand-in with ContentStore's read side. */
class DirStore implements BlobReader {
  constructor(readonly dir: string) {}
  path(d: string): string {
    return join(this.dir, d.slice(7));
  }
  async put(bytes: Buffer | string): Promise<{ digest: string; size: number }> {
    const b = Buffer.from(bytes);
    await writeFile(this.path(sha256Digest(b)), b);
    return { digest: sha256Digest(b), size: b.length };
  }
  read(digest: string) {
    return createReadStream(this.path(digest));
  }
  readBytes(digest: string) {
    return readFile(this.path(digest));
  }
}

describe('StoreImageSource and openDestination', () => {
  let dir: string;
  let store: DirStore;
  let top: { mediaType: string; digest: string; size: number };
  let layerDigest: string;
  const client = new RegistryClient({ credentials: async () => undefined });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-store-src-'));
    await mkdir(join(dir, 'blobs'));
    store = new DirStore(join(dir, 'blobs'));
    const layer = await store.put('layer bytes');
    layerDigest = layer.digest;
    const config = await store.put(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
    const manifest = await store.put(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, ...config },
        layers: [{ mediaType: MediaType.ociLayerTar, ...layer }],
      }),
    );
    top = { mediaType: MediaType.ociManifest, ...manifest };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterAll(() => client.close());

  it('exports a stored image to oci:DIR:REF with the ref name after the last colon', async () => {
    const src = new StoreImageSource(store, 'docker.io/library/app:1', top);
    const out = join(dir, 'out');
    const dest = openDestination(`oci:${out}:1`, { registry: client, sourceName: 'docker.io/library/app:1' });
    const r = await copyImage(src, dest, { platform: parsePlatform('linux/amd64') });
    expect(r.manifestDigest).toBe(top.digest);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests).toEqual([{ ...top, annotations: { 'org.opencontainers.image.ref.name': '1' } }]);

    // without a ref the entry is named as BuildKit names it
    const out2 = join(dir, 'out2');
    await copyImage(src, openDestination(`oci:${out2}`, { registry: client, sourceName: 'docker.io/library/app:1' }), { platform: parsePlatform('linux/amd64') });
    const index2 = JSON.parse(await readFile(join(out2, 'index.json'), 'utf8'));
    expect(index2.manifests[0].annotations).toEqual({ 'io.containerd.image.name': 'docker.io/library/app:1', 'org.opencontainers.image.ref.name': '1' });

    const back = openSource(`oci:${out}:1`, { registry: client });
    expect(back).toBeInstanceOf(OciLayoutSource);
    expect((await back.getManifest()).digest).toBe(top.digest);
    expect(openDestination('docker://127.0.0.1:5/x:1', { registry: client })).toBeInstanceOf(RegistryDestination);
    expect(openDestination('127.0.0.1:5/x:1', { registry: client })).toBeInstanceOf(RegistryDestination);
  });

  it('fails with DIGEST_MISMATCH when a stored blob was changed on disk', async () => {
    await writeFile(store.path(layerDigest), 'LAYER BYTES');
    const src = new StoreImageSource(store, 'app', top);
    await expect(copyImage(src, openDestination(`oci:${join(dir, 'o')}`, { registry: client }), { platform: parsePlatform('linux/amd64') })).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });

  it('stops with ABORTED when the signal is already aborted, leaving no tar', async () => {
    const ac = new AbortController();
    ac.abort();
    const src = new StoreImageSource(store, 'app', top);
    await expect(copyImage(src, openDestination(`oci-archive:${join(dir, 'x.tar')}`, { registry: client }), { signal: ac.signal, platform: parsePlatform('linux/amd64') })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    await expect(readFile(join(dir, 'x.tar'))).rejects.toThrow();
  });
});
