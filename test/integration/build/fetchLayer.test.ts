/**
 * fetchLayer on a real store: a cold pull stores the blob and unpacks the layer in one read of the
 * source, with the result, the errors and the leftovers (none) of the two passes it replaces:
 * content.write, then ensureLayer from the stored blob.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchLayer } from '../../../src/build/fetchLayer.js';
import type { Descriptor } from '../../../src/image/types.js';
import { openStore, type Store } from '../../../src/snapshot/openStore.js';
import { verifyingStream } from '../../../src/transport/digestStream.js';
import type { ImageSource } from '../../../src/transport/types.js';
import { busyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { treeListing } from '../../helpers/tree.js';
import { waitFor } from '../reliability/harness.js';
import { sha256, tarOf } from '../reliability/hostileRegistry.js';

interface Layer {
  desc: Descriptor;
  diffID: string;
  bytes: Buffer;
}

/**
 * Serves `bytes` as the blob `desc` names, verified as the real sources do (the stream fails at
 * its end on a mismatch) unless `verify` is false. `hold` stops it after half the bytes until
 * `release()`; `getBlobs` counts the reads.
 */
function bytesSource(bytes: Buffer, opts: { hold?: boolean; verify?: boolean } = {}): ImageSource & { getBlobs: number; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const source = {
    reference: 'test:bytes',
    getBlobs: 0,
    release,
    getManifest: () => Promise.reject(new Error('not used')),
    getManifestByDigest: () => Promise.reject(new Error('not used')),
    close: async () => undefined,
    async getBlob(desc: Descriptor, signal?: AbortSignal): Promise<NodeJS.ReadableStream> {
      source.getBlobs++;
      async function* chunks(): AsyncGenerator<Buffer> {
        for (let off = 0; off < bytes.length; off += 64 * 1024) {
          if (opts.hold && off >= bytes.length / 2) {
            const aborted = signal ? once(signal, 'abort') : new Promise(() => undefined);
            await Promise.race([released, aborted]);
            if (signal?.aborted) return;
          }
          yield bytes.subarray(off, off + 64 * 1024);
        }
      }
      if (opts.verify === false) return Readable.from(chunks());
      const verifier = verifyingStream({ digest: desc.digest, size: desc.size }, `blob ${desc.digest} of test:bytes`);
      pipeline(Readable.from(chunks()), verifier, () => undefined);
      return verifier;
    },
  };
  return source;
}

describe('fetchLayer', () => {
  /** The busybox fixture's layer: symlinks, modes, owners as a real base has them. */
  let layer: Layer;
  /** ~13 MB of gzip: far more than the tee holds, so a bad byte fails the unpack while most of the blob is still to come. */
  let big: Layer & { tar: Buffer };
  const stores: Store[] = [];

  async function freshStore(name: string): Promise<Store> {
    const store = await openStore(join(await makeTempDir(`tsbuild-fetch-${name}`), 'store'), { xattrFlavor: 'trusted' });
    stores.push(store);
    return store;
  }

  /** The old way: the blob stored first, then unpacked from the store. */
  async function twoPasses(store: Store, source: ImageSource, l: Layer): Promise<void> {
    await store.content.write(await source.getBlob(l.desc), { digest: l.desc.digest, size: l.desc.size });
    await store.snapshots.ensureLayer(l.diffID, l.desc.mediaType, async () => store.content.read(l.desc.digest));
  }

  const fetch = (store: Store, source: ImageSource, l: Layer, signal = new AbortController().signal): Promise<void> =>
    fetchLayer({ content: store.content, snapshots: store.snapshots }, source, l.desc, l.diffID, signal);

  async function outcome(p: Promise<void>): Promise<{ code?: string; message: string } | 'ok'> {
    return p.then(
      () => 'ok' as const,
      (err: { code?: string; message: string }) => ({ code: err.code, message: err.message }),
    );
  }

  /** Neither the blob nor the layer, and nothing in tmp/. */
  async function assertNothingOf(store: Store, l: Layer): Promise<void> {
    expect(await store.content.has(l.desc.digest)).toBe(false);
    expect(await store.snapshots.hasLayer(l.diffID)).toBe(false);
    expect(await readdir(store.tmpDir)).toEqual([]);
  }

  beforeAll(async () => {
    const { dir, digest } = await busyboxLayout();
    const blob = (d: string): Promise<Buffer> => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
    const manifest = JSON.parse((await blob(digest)).toString()) as { config: Descriptor; layers: Descriptor[] };
    const config = JSON.parse((await blob(manifest.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
    const desc = manifest.layers[0]!;
    layer = { desc, diffID: config.rootfs.diff_ids[0]!, bytes: await blob(desc.digest) };
    // Random hex: compressed with Huffman codes, so a flipped byte breaks the gzip stream there.
    const tar = tarOf(Array.from({ length: 48 }, (_, i) => ({ path: `f${i}`, data: randomBytes(256 * 1024).toString('hex') })));
    const gz = gzipSync(tar, { level: 1 });
    big = { desc: { mediaType: desc.mediaType, digest: sha256(gz), size: gz.length }, diffID: sha256(tar), bytes: gz, tar };
  });
  afterEach(async () => {
    // No test may leave a temp file or dir behind, whatever it did.
    for (const s of stores.splice(0)) expect(await readdir(s.tmpDir).catch(() => [])).toEqual([]);
  });

  it('reads the source once, unpacking while it stores, into the same layer and blob as two passes', async () => {
    const one = await freshStore('one');
    const source = bytesSource(layer.bytes, { hold: true });
    const done = fetch(one, source, layer);
    // Half the blob is in: its temp file and the layer's work dir are both being written.
    await waitFor('the blob and the layer in tmp/ at once', async () => {
      const names = await readdir(one.tmpDir);
      return names.some((n) => n.startsWith('blob-')) && names.some((n) => n.startsWith('layer-')) ? true : undefined;
    }, 20_000);
    expect(await one.snapshots.hasLayer(layer.diffID)).toBe(false);
    source.release();
    await done;
    expect(source.getBlobs).toBe(1);
    expect(await one.content.verify(layer.desc.digest)).toBe(true);

    const two = await freshStore('two');
    await twoPasses(two, bytesSource(layer.bytes), layer);
    const unpacked = await treeListing(one.snapshots.layerDir(layer.diffID));
    expect(unpacked.length).toBeGreaterThan(100);
    expect(unpacked).toEqual(await treeListing(two.snapshots.layerDir(layer.diffID)));
  });

  const corrupt: Array<[string, () => Buffer]> = [
    ['bytes flipped', () => Buffer.from(big.bytes).fill(0x5a, 3_000_000, 3_000_016)],
    ['truncated', () => big.bytes.subarray(0, 3_000_000)],
    // Another gzip of the same tar: it unpacks to the right diffID, but it is not the blob asked for.
    ['other bytes of the same content', () => gzipSync(big.tar, { level: 6 })],
  ];
  for (const [name, bytes] of corrupt) {
    it(`fails a blob with ${name} as two passes do, leaving no blob, no layer, nothing in tmp/`, async () => {
      const one = await freshStore(`corrupt-one`);
      const got = await outcome(fetch(one, bytesSource(bytes()), big));
      const two = await freshStore(`corrupt-two`);
      const want = await outcome(twoPasses(two, bytesSource(bytes()), big));
      expect(want).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/^verifying blob sha256:[0-9a-f]{64} of test:bytes: got /) });
      expect(got).toEqual(want);
      await assertNothingOf(one, big);
    });
  }

  it('installs the layer only once the blob is stored: a source that does not verify is caught by the store', async () => {
    const other = gzipSync(big.tar, { level: 6 });
    const one = await freshStore('unverified-one');
    // A store slow to answer (a slow fsync): the unpack is done long before the blob's check.
    const write = one.content.write.bind(one.content);
    one.content.write = (...args) => write(...args).finally(() => sleep(500));
    const got = await outcome(fetch(one, bytesSource(other, { verify: false }), big));
    const two = await freshStore('unverified-two');
    expect(got).toEqual(await outcome(twoPasses(two, bytesSource(other, { verify: false }), big)));
    expect(got).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringMatching(/^writing blob: expected sha256:/) });
    await assertNothingOf(one, big);
  });

  it('keeps a good blob whose layer fails to unpack, and fails with the unpack error, as two passes do', async () => {
    const lie = { ...layer, diffID: `sha256:${'0'.repeat(64)}` };
    const one = await freshStore('lie-one');
    const got = await outcome(fetch(one, bytesSource(layer.bytes), lie));
    const two = await freshStore('lie-two');
    expect(got).toEqual(await outcome(twoPasses(two, bytesSource(layer.bytes), lie)));
    expect(got).toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining('hashes to') });
    expect(await one.content.has(layer.desc.digest)).toBe(true);
    expect(await one.snapshots.hasLayer(lie.diffID)).toBe(false);
  });

  it('stops both sides on abort mid-pull and leaves nothing behind', async () => {
    const store = await freshStore('abort');
    const controller = new AbortController();
    const done = outcome(fetch(store, bytesSource(big.bytes, { hold: true }), big, controller.signal));
    await waitFor('the layer being unpacked', async () => ((await readdir(store.tmpDir)).some((n) => n.startsWith('layer-')) ? true : undefined), 20_000);
    controller.abort(new Error('interrupted by SIGINT'));
    expect(await done).toMatchObject({ code: 'ABORTED' });
    await assertNothingOf(store, big);
  });

  it('makes only what is missing: the layer from a stored blob, or the blob when the layer is there', async () => {
    const store = await freshStore('partial');
    await store.content.writeBytes(layer.bytes, { digest: layer.desc.digest });
    const unused = bytesSource(layer.bytes);
    await fetch(store, unused, layer);
    expect(unused.getBlobs).toBe(0);
    expect(await store.snapshots.hasLayer(layer.diffID)).toBe(true);

    const before = await lstat(store.snapshots.layerDir(layer.diffID));
    await store.content.delete(layer.desc.digest);
    const source = bytesSource(layer.bytes);
    await fetch(store, source, layer);
    expect(source.getBlobs).toBe(1);
    expect(await store.content.has(layer.desc.digest)).toBe(true);
    expect((await lstat(store.snapshots.layerDir(layer.diffID))).ino).toBe(before.ino);
  });

  it('pulls one layer at once in one process and in two (two store handles on one root)', async () => {
    const a = await freshStore('shared');
    const b = await openStore(a.root, { xattrFlavor: 'trusted' });
    const sources = [bytesSource(layer.bytes), bytesSource(layer.bytes), bytesSource(layer.bytes)];
    await Promise.all([fetch(a, sources[0]!, layer), fetch(a, sources[1]!, layer), fetch(b, sources[2]!, layer)]);
    expect(await a.content.verify(layer.desc.digest)).toBe(true);
    expect(await a.snapshots.hasLayer(layer.diffID)).toBe(true);
    // The second call of one process waits for the first's unpack, then finds its blob stored.
    expect(sources.map((s) => s.getBlobs)).toEqual([1, 0, 1]);
  });
});
