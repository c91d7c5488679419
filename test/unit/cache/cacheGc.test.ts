import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CacheIndex, type CacheEntry } from '../../../src/cache/cacheIndex.js';
import { cacheUsage, pruneCache, withBuildLease } from '../../../src/cache/cacheGc.js';
import { ContentStore } from '../../../src/store/contentStore.js';
import { ImageStore } from '../../../src/store/imageStore.js';
import { makeTempDir } from '../../helpers/tmp.js';

async function store() {
  const root = await makeTempDir('tsbuild-gc');
  await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
  await mkdir(join(root, 'layers'), { recursive: true });
  return { root, content: new ContentStore(root), images: new ImageStore(root), layersDir: join(root, 'layers') };
}

async function entryWithLayer(s: Awaited<ReturnType<typeof store>>, text: string, createdAt: number): Promise<CacheEntry> {
  const blob = await s.content.writeBytes(Buffer.from(text));
  const diffID = `sha256:${'d'.repeat(63)}${text.length % 10}`;
  await mkdir(join(s.layersDir, diffID.slice(7), 'fs'), { recursive: true });
  const entry: CacheEntry = {
    version: 1,
    key: `sha256:${blob.digest.slice(7, 20)}${'0'.repeat(51)}`,
    createdAt,
    step: `RUN ${text}`,
    layer: { diffID, descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: blob.digest, size: blob.size } },
    configPatch: [[['rootfs', 'diff_ids'], [diffID]]],
    history: [],
    cmdSet: false,
  };
  await new CacheIndex(join(s.root, 'cache')).put(entry);
  return entry;
}

describe('cache garbage collection', () => {
  it('keep-storage removes the oldest entries first, with their layers', async () => {
    const s = await store();
    const old = await entryWithLayer(s, 'old layer bytes', Date.now() - 3_600_000);
    const young = await entryWithLayer(s, 'young layer bytes!', Date.now());
    expect((await cacheUsage(s)).bytes).toBe(old.layer!.descriptor.size + young.layer!.descriptor.size);
    const r = await pruneCache(s, { keepStorage: young.layer!.descriptor.size });
    expect(r).toEqual({ entries: 1, blobs: 1, bytes: old.layer!.descriptor.size });
    const left = await readdir(join(s.root, 'blobs', 'sha256'));
    expect(left).toEqual([young.layer!.descriptor.digest.slice(7)]);
  });

  it('never removes a layer a tagged image uses', async () => {
    const s = await store();
    const e = await entryWithLayer(s, 'tagged layer', Date.now());
    const manifest = await s.content.writeBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [e.layer!.descriptor] })));
    await s.images.tag('docker.io/library/kept:1', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size });
    expect((await cacheUsage(s)).reclaimable).toBe(0);
    expect(await pruneCache(s)).toEqual({ entries: 1, blobs: 0, bytes: 0 });
    expect(await s.content.has(e.layer!.descriptor.digest)).toBe(true);
  });

  it('waits for running builds and gives up with a clear error', async () => {
    const s = await store();
    await entryWithLayer(s, 'busy', Date.now());
    await expect(withBuildLease(s.root, () => pruneCache(s, { waitMs: 300 }))).rejects.toThrow(/a build is running on this store/);
    expect((await pruneCache(s, { waitMs: 300 })).entries).toBe(1);
  });
});

