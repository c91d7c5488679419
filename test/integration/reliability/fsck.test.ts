/**
 * `tsbuild fsck` on a store built by hand: each kind of damage and leftover it must find, what
 * --repair removes, and what it must never remove (intact blobs, tags, live processes' files).
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContentStore } from '../../../src/store/contentStore.js';
import { fsckStore } from '../../../src/store/fsck.js';
import { ImageStore } from '../../../src/store/imageStore.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

const DEAD_PID = 999_999_999;

async function makeStore(): Promise<{ root: string; content: ContentStore; layer: string; config: string; manifest: string }> {
  const root = await makeTempDir('tsbuild-fsck');
  const content = new ContentStore(root);
  const layerBytes = Buffer.from('not really a tar, but a blob');
  const layer = (await content.writeBytes(layerBytes)).digest;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer] } }));
  const configInfo = await content.writeBytes(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configInfo.digest, size: configInfo.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: layerBytes.length }],
    }),
  );
  const m = await content.writeBytes(manifest);
  await new ImageStore(root).tag('docker.io/library/app:1', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size });
  await mkdir(join(root, 'layers', layer.slice(7), 'fs'), { recursive: true });
  return { root, content, layer, config: configInfo.digest, manifest: m.digest };
}

describe('tsbuild fsck', () => {
  it('reports a sound store as consistent, with exit 0', async () => {
    const { root } = await makeStore();
    const r = await runTsbuild(['fsck', '--root', root]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/3 blobs, 1 tags, 0 cache entries, 1 layer dirs \(0 blobs not reached by a tag\)\nconsistent\n$/);
    expect(r.code).toBe(0);
  });

  it('finds a corrupt blob a tag needs (exit 1), removes it with --repair, and still reports the tag broken', async () => {
    const { root, content, layer } = await makeStore();
    await appendFile(content.blobPath(layer), 'x');
    const r = await runTsbuild(['fsck', '--root', root]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`DAMAGE: ${content.blobPath(layer)}: corrupt blob`);
    expect(r.stdout).toContain(`tag docker.io/library/app:1: layer ${layer} is missing or corrupt`);
    const repaired = await runTsbuild(['fsck', '--root', root, '--repair']);
    expect(repaired.code).toBe(1);
    expect(repaired.stdout).toContain(`removed: ${content.blobPath(layer)}`);
    await expect(stat(content.blobPath(layer))).rejects.toThrow(/ENOENT/);
    expect((await fsckStore(root)).problems.map((p) => p.detail)).toEqual([`tag docker.io/library/app:1: layer ${layer} is missing or corrupt`]);
  });

  it('removes an unreferenced corrupt blob with --repair and is then consistent', async () => {
    const { root, content } = await makeStore();
    const junk = await content.writeBytes(Buffer.from('orphan'));
    await writeFile(content.blobPath(junk.digest), 'changed');
    expect((await fsckStore(root)).consistent).toBe(false);
    const r = await fsckStore(root, { repair: true });
    expect(r.consistent).toBe(true);
    expect(r.problems).toHaveLength(1);
    expect((await fsckStore(root)).problems).toEqual([]);
  });

  it('treats dead processes\' temp files, locks and half-installed layer dirs as leftovers, and keeps a live process\'s', async () => {
    const { root } = await makeStore();
    const sleeper = spawn('sleep', ['30']);
    try {
      const live = sleeper.pid!;
      await mkdir(join(root, 'tmp', `snap-${DEAD_PID}-abcd`, 'upper'), { recursive: true });
      await writeFile(join(root, 'tmp', `blob-${DEAD_PID}-0011223344556677`), 'partial');
      await writeFile(join(root, 'tmp', `blob-${live}-0011223344556677`), 'in progress');
      await mkdir(join(root, 'tmp', `layer-${live}-0123456789ab-x`));
      await writeFile(join(root, 'images.json.lock'), `${DEAD_PID} 0011223344556677\n`);
      await writeFile(join(root, `.images.json.${DEAD_PID}.00aa.tmp`), '{');
      await mkdir(join(root, 'layers', 'f'.repeat(64)));
      const before = await fsckStore(root);
      expect(before.consistent).toBe(true);
      expect(before.problems.map((p) => [p.severity, p.path.slice(root.length + 1)]).sort()).toEqual(
        [
          ['leftover', `.images.json.${DEAD_PID}.00aa.tmp`],
          ['leftover', 'images.json.lock'],
          ['leftover', `layers/${'f'.repeat(64)}`],
          ['leftover', `tmp/blob-${DEAD_PID}-0011223344556677`],
          ['leftover', `tmp/snap-${DEAD_PID}-abcd`],
        ].sort(),
      );
      const cli = await runTsbuild(['fsck', '--root', root]);
      expect(cli.code).toBe(0);
      expect(cli.stdout).toContain('consistent; 5 leftovers of killed processes (tsbuild fsck --repair removes them)');
      await fsckStore(root, { repair: true });
      expect((await fsckStore(root)).problems).toEqual([]);
      expect((await readdir(join(root, 'tmp'))).sort()).toEqual([`blob-${live}-0011223344556677`, `layer-${live}-0123456789ab-x`]);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('finds a tag whose manifest is missing, a size that lies, and a damaged tag file', async () => {
    const { root, content, manifest } = await makeStore();
    const images = new ImageStore(root);
    await images.tag('docker.io/library/gone:1', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 10 });
    const real = (await images.get('docker.io/library/app:1'))!;
    await images.tag('docker.io/library/liar:1', { ...real, size: real.size + 1 });
    const details = (await fsckStore(root)).problems.map((p) => p.detail);
    expect(details).toEqual([
      `tag docker.io/library/gone:1: sha256:${'0'.repeat(64)} is missing or corrupt`,
      `tag docker.io/library/liar:1: ${manifest} has ${real.size} bytes, its descriptor says ${real.size + 1}`,
    ]);
    await writeFile(join(root, 'images.json'), '{"version":1,"images":');
    const r = await fsckStore(root);
    expect(r.consistent).toBe(false);
    expect(r.problems[0]?.detail).toMatch(/^unreadable tag file/);
    void content;
  });

  it('finds a build cache entry whose layer blob is gone, and drops it with --repair', async () => {
    const { root, layer } = await makeStore();
    const keys = join(root, 'cache', 'keys');
    await mkdir(keys, { recursive: true });
    const gone = `sha256:${'9'.repeat(64)}`;
    await writeFile(join(keys, 'a.json'), JSON.stringify({ version: 1, key: 'a', layer: { diffID: gone, descriptor: { digest: gone, size: 1 } } }));
    await writeFile(join(keys, 'b.json'), JSON.stringify({ version: 1, key: 'b', layer: { diffID: layer, descriptor: { digest: layer, size: 1 } } }));
    const r = await fsckStore(root);
    expect(r.cacheEntries).toBe(2);
    expect(r.problems.map((p) => [p.severity, p.detail])).toEqual([['damage', `cache entry's layer ${gone} is missing or corrupt`]]);
    expect((await fsckStore(root, { repair: true })).consistent).toBe(true);
    expect(await readdir(keys)).toEqual(['b.json']);
  });

  it('says so when the store does not exist', async () => {
    const r = await runTsbuild(['fsck', '--root', '/nonexistent/tsbuild-store']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: checking store /nonexistent/tsbuild-store: no such directory\nhint: pass the store with --root or TSBUILD_ROOT\n');
  });
});
