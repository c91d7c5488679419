/**
 * SIGINT and SIGTERM stop a build cleanly: the RUN step's processes are killed, no mount is
 * left, nothing is left in the store's tmp/, no tag is written, and the exit code is 130 / 143;
 * a pull stopped half way leaves neither its blob nor its layer.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { findUnder, mountsUnder, processesWith, startTsbuild, waitFor } from './harness.js';
import { busyboxLayers, imageOf, startHostileRegistry } from './hostileRegistry.js';

describe('SIGINT / SIGTERM during a build', () => {
  let registry: TestRegistry;
  let base: string;

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  for (const [sig, code, secs] of [['SIGINT', 130, 4343], ['SIGTERM', 143, 4344]] as const) {
    it(`${sig} during RUN: exit ${code}, step processes and mounts gone, nothing left behind`, async () => {
      const ctx = await makeTempDir('tsbuild-sig-ctx');
      const root = await makeTempDir('tsbuild-sig-root');
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN touch /running-now && sleep ${secs}\n`);
      const started = startTsbuild(['build', '--root', root, '-t', 'sig:1', ctx], {});
      await waitFor('the RUN step to start', () => findUnder(join(root, 'tmp'), 'running-now'), 90_000, started.done);
      started.child.kill(sig);
      const result = await started.done;
      expect(result.stderr).toContain(`error: build interrupted by ${sig}`);
      expect(result.code).toBe(code);
      expect(await processesWith(`sleep ${secs}`)).toEqual([]);
      expect(await mountsUnder(root)).toEqual([]);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
      const check = await runTsbuild(['fsck', '--root', root]);
      expect(check.stdout).toMatch(/ 0 tags, .*\nconsistent\n$/);
      expect(check.code).toBe(0);
    });
  }

  it('SIGINT mid-pull, the layer half received and being unpacked: exit 130, no blob, no layer, nothing in tmp/', async () => {
    const hostile = await startHostileRegistry();
    try {
      const base = await busyboxLayers();
      const layer = base[0]!;
      // The registry sends half the layer, then nothing: the pull is caught in the middle.
      hostile.put('slow/busybox', '1', { ...imageOf([], { base: { layers: base } }), stallAfter: new Map([[layer.desc.digest, layer.bytes.length >> 1]]) });
      const ctx = await makeTempDir('tsbuild-sig-pull-ctx');
      const root = await makeTempDir('tsbuild-sig-pull-root');
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${hostile.host}/slow/busybox:1\nRUN true\n`);
      const started = startTsbuild(['build', '--root', root, '-t', 'sig:pull', ctx], {});
      // The blob's temp file and the layer's work dir, both being written from the one download.
      await waitFor('the blob and its layer in tmp/', async () => {
        const names = await readdir(join(root, 'tmp')).catch(() => [] as string[]);
        return names.some((n) => n.startsWith('blob-')) && names.some((n) => n.startsWith('layer-')) ? names : undefined;
      }, 90_000, started.done);
      started.child.kill('SIGINT');
      const result = await started.done;
      expect(result.stderr).toContain('error: build interrupted by SIGINT');
      expect(result.code).toBe(130);
      expect(await readdir(join(root, 'tmp'))).toEqual([]);
      expect(await readdir(join(root, 'blobs', 'sha256'))).not.toContain(layer.desc.digest.slice(7));
      expect(await readdir(join(root, 'layers')).catch(() => [])).toEqual([]);
      const check = await runTsbuild(['fsck', '--root', root]);
      expect(check.stdout).toMatch(/ 0 tags, .*\nconsistent\n$/);
      expect(check.code).toBe(0);
    } finally {
      await hostile.stop();
    }
  });
});
