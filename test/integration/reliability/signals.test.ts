/**
 * SIGINT and SIGTERM stop a build cleanly: the RUN step's processes are killed, no mount is
 * left, nothing is left in the store's tmp/, no tag is written, and the exit code is 130 / 143.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { findUnder, mountsUnder, processesWith, startTsbuild, waitFor } from './harness.js';

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
});
