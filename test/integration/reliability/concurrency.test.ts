/**
 * Several builds at once on one store, sharing a base image, while `tsbuild fsck --repair` and
 * `tsbuild cache prune` run in loops beside them: all succeed, each image has the digest it has when built alone, and the
 * store is consistent afterwards (file locks on the tag file, atomic renames for blobs and layers).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { mountsUnder, startTsbuild } from './harness.js';

const EPOCH = '1700000000';

describe('concurrent builds on one store', () => {
  let registry: TestRegistry;
  let base: string;
  let ctx: string;

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
    ctx = await makeTempDir('tsbuild-conc-ctx');
    await writeFile(join(ctx, 'shared.txt'), 'shared\n');
    for (const n of [1, 2, 3]) {
      // Same first steps (same layers, written by all three at once), then each its own.
      await writeFile(
        join(ctx, `D${n}`),
        `ARG BASE\nFROM \${BASE}\nCOPY shared.txt /shared.txt\nRUN echo common > /common\nRUN echo ${n} > /own && sleep 0.${n}\nLABEL n=${n}\n`,
      );
    }
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const args = (root: string, n: number): string[] => [
    'build', '--root', root, '-q', '-t', `conc:${n}`, '-f', join(ctx, `D${n}`), '--source-date-epoch', EPOCH, '--build-arg', `BASE=${base}`, ctx,
  ];

  it('3 builds, a fsck --repair loop and a cache prune loop at once: all succeed, same digests as alone, nothing lost', async () => {
    const alone: string[] = [];
    for (const n of [1, 2, 3]) {
      const r = await runTsbuild(args(await makeTempDir(`tsbuild-conc-alone${n}`), n));
      expect(r.stderr).toBe('');
      alone.push(r.stdout.trim());
    }

    const root = await makeTempDir('tsbuild-conc-shared');
    const builds = [1, 2, 3].map((n) => startTsbuild(args(root, n), {}));
    let running = true;
    let fscks = 0;
    const repairLoop = (async () => {
      while (running) {
        const r = await runTsbuild(['fsck', '--root', root, '--repair']);
        expect(r.stdout, 'fsck during builds').not.toContain('DAMAGE');
        fscks++;
      }
    })();
    // Prune takes the cache's GC lock and waits for the builds' leases; builds starting while it
    // holds the lock wait for it. Either way no build loses a layer or a cache entry it uses.
    let prunes = 0;
    const pruneLoop = (async () => {
      while (running) {
        const r = await runTsbuild(['cache', 'prune', '--root', root]);
        expect(r.stderr, 'prune during builds').toBe('');
        expect(r.code).toBe(0);
        prunes++;
      }
    })();
    const results = await Promise.all(builds.map((b) => b.done));
    running = false;
    await Promise.all([repairLoop, pruneLoop]);
    expect(fscks).toBeGreaterThan(0);
    expect(prunes).toBeGreaterThan(0);
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    expect(results.map((r) => r.stdout.trim())).toEqual(alone);

    const images = await runTsbuild(['images', '--root', root, '--json']);
    const rows = JSON.parse(images.stdout) as Array<{ name: string; id: string }>;
    expect(rows.map((r) => [r.name, r.id])).toEqual([1, 2, 3].map((n) => [`docker.io/library/conc:${n}`, alone[n - 1]]));
    const check = await runTsbuild(['fsck', '--root', root]);
    expect(check.stdout).toMatch(/\nconsistent\n$/);
    expect(check.code).toBe(0);
    expect(await mountsUnder(root)).toEqual([]);

    // After a last prune has emptied the cache, the images still rebuild to the same digests.
    expect((await runTsbuild(['cache', 'prune', '--root', root])).code).toBe(0);
    const again = await Promise.all([1, 2, 3].map((n) => runTsbuild(args(root, n))));
    expect(again.map((r) => r.stderr)).toEqual(['', '', '']);
    expect(again.map((r) => r.stdout.trim())).toEqual(alone);
  });
});
