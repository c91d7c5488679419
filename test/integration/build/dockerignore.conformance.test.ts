/**
 * BuildKit's .dockerignore build scenarios from the shared corpus (dockerignore-patternmatcher/
 * buildkit_context_scenarios.json, read in place): build, then check the image with umoci.
 */
import { readFileSync } from 'node:fs';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unpackOciImage } from '../../helpers/runImage.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { conformanceDir } from '../../unit/dockerfile/conformanceDir.js';
import { withBusyboxRegistry } from '../../helpers/busyboxRegistry.js';

interface Scenario {
  name: string;
  dockerignore?: string;
  context: Record<string, string>;
  present?: Record<string, string>;
  absent?: string[];
  expect_error?: boolean;
  builds?: Array<{ dockerfile: string; present: string[]; absent: string[] }>;
}

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

describe('BuildKit .dockerignore scenarios', () => {
  let base: string;
  let store: string;
  withBusyboxRegistry((f) => ({ base, store } = f));

  const build = async (ctx: string, extra: string[]) => {
    const out = join(await makeTempDir('tsbuild-out'), 'layout');
    const res = await runTsbuild(['build', '--progress', 'plain', '--root', store, '-t', 'fe:1', '-o', `type=oci,dest=${out},tar=false`, ...extra, ctx]);
    return { res, out };
  };

  const scenarios = (
    JSON.parse(readFileSync(conformanceDir('dockerignore-patternmatcher', 'buildkit_context_scenarios.json'), 'utf8')) as { scenarios: Scenario[] }
  ).scenarios;

  for (const s of scenarios) {
    it(`${s.name}`, async () => {
      const ctx = await makeTempDir('tsbuild-ctx');
      // "FROM busybox" in the scenarios is the test registry's busybox here.
      const files = Object.fromEntries(
        Object.entries(s.context).map(([k, v]) => [k, k === '.dockerignore' && s.dockerignore !== undefined ? s.dockerignore : v.replaceAll('FROM busybox', `FROM ${base}`)]),
      );
      if (s.dockerignore !== undefined) files['.dockerignore'] = s.dockerignore;
      await writeTree(ctx, files);
      for (const b of s.builds ?? [{ dockerfile: 'Dockerfile', present: Object.keys(s.present ?? {}), absent: s.absent ?? [] }]) {
        const { res, out } = await build(ctx, ['-f', join(ctx, b.dockerfile)]);
        if (s.expect_error) {
          expect(res.code).not.toBe(0);
          expect(res.stderr).toMatch(/\.dockerignore: invalid \.dockerignore pattern "!"/);
          expect(res.stderr).not.toMatch(/\n\s+at /);
          continue;
        }
        expect(res.code, res.stderr).toBe(0);
        const rootfs = await unpackOciImage(out, '1');
        const names = await readdir(rootfs);
        for (const f of b.present) {
          expect(names).toContain(f);
          if (s.present?.[f] !== undefined) expect(await readFile(join(rootfs, f), 'utf8')).toBe(s.present[f]);
        }
        for (const f of b.absent) expect(names).not.toContain(f);
      }
    });
  }

});
