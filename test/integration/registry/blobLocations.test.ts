/**
 * The store's record of where blobs were seen (blob-locations.json): a push to a new repository
 * of the same registry mounts the blobs from the repository they were pulled from or pushed to
 * before, instead of uploading them again; a corrupt record never fails a push.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/faultProxy.js';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir, removeTree } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

describe('cross-repository mounts from the store’s record of blob locations', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let root: string;
  let image: string;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.host);
    proxy.setFaults(() => ({ kind: 'pass' }));
    await seedBusybox(registry.host, 'seed/busybox', '1');
    root = await makeTempDir('tsbuild-bloblocs-');
    image = `${proxy.host}/seed/busybox:1`;
    const pull = await runTsbuild(['pull', '--root', root, '-q', image]);
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (root) await removeTree(root);
  });

  /** Pushes the pulled image to `repo` through the proxy; returns the requests the push made. */
  async function push(repo: string): Promise<typeof proxy.log> {
    proxy.log.length = 0;
    const r = await runTsbuild(['push', '--root', root, '-q', image, `docker://${proxy.host}/${repo}:1`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return [...proxy.log];
  }

  /** The tag at the registry itself is complete: skopeo checks every blob's digest while copying it out. */
  async function assertWhole(repo: string): Promise<void> {
    const dir = await makeTempDir('tsbuild-bloblocs-check-');
    try {
      const copy = await execCommand('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${registry.host}/${repo}:1`, `oci:${dir}/l:1`]);
      expect(copy.stderr).toBe('');
      expect(copy.code).toBe(0);
    } finally {
      await removeTree(dir);
    }
  }

  const uploads = (log: typeof proxy.log) => log.filter((e) => (e.method === 'PUT' || e.method === 'PATCH') && e.url.includes('/blobs/'));
  const mountsFrom = (log: typeof proxy.log, repo: string) =>
    log.filter((e) => e.method === 'POST' && e.url.includes('mount=') && e.url.includes(`from=${encodeURIComponent(repo)}`));

  it('pushes to a new repository by mounting what was pulled, then what was pushed, sending no blob bytes', async () => {
    const toA = await push('a/busybox');
    expect(mountsFrom(toA, 'seed/busybox').map((e) => e.status)).toEqual([201, 201]); // config and layer
    expect(uploads(toA)).toEqual([]);
    await assertWhole('a/busybox');

    const toB = await push('b/busybox');
    expect(mountsFrom(toB, 'a/busybox').map((e) => e.status)).toEqual([201, 201]);
    expect(uploads(toB)).toEqual([]);
    await assertWhole('b/busybox');

    const record = JSON.parse(await readFile(join(root, 'blob-locations.json'), 'utf8')) as { blobs: Record<string, Array<{ registry: string; repository: string }>> };
    for (const list of Object.values(record.blobs)) expect(list[0]).toEqual({ registry: proxy.host, repository: 'b/busybox' });
  }, 180_000);

  it('a corrupt record does not fail a push: the blobs are uploaded and the record is rewritten', async () => {
    await writeFile(join(root, 'blob-locations.json'), '{"version":1,"blobs":{"sha256:x');
    const toC = await push('c/busybox');
    expect(toC.filter((e) => e.url.includes('mount=')).length).toBe(0);
    expect(uploads(toC).length).toBeGreaterThanOrEqual(2);
    await assertWhole('c/busybox');
    const record = JSON.parse(await readFile(join(root, 'blob-locations.json'), 'utf8')) as { blobs: Record<string, unknown> };
    expect(Object.keys(record.blobs).length).toBeGreaterThanOrEqual(2);
  }, 180_000);
});
