/**
 * Crash safety: tsbuild is SIGKILLed at named points of a build and of a push (TSBUILD_TEST_PAUSE_AT
 * stops it exactly there) and while a RUN step runs. After every kill: no mount of the store on
 * the host, no process of the build left, `tsbuild fsck` finds no damage (only leftovers, which
 * --repair removes), and the next build succeeds with the digest of an undisturbed build.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { fileText, findUnder, mountsUnder, processesWith, startTsbuild, waitFor, waitGone } from './harness.js';

const DOCKERFILE = `ARG BASE
FROM \${BASE}
COPY a.txt /a.txt
RUN echo built > /b.txt && cat /a.txt >> /b.txt
`;
// The unusual sleep length names the step's process, so the test can look for survivors.
const RUN_DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN touch /running-now && sleep 4242
`;

describe('crash safety (SIGKILL)', () => {
  let registry: TestRegistry;
  let base: string;
  let ctx: string;
  let root: string;
  let reference: string;

  const buildArgs = (tag: string, file = 'Dockerfile'): string[] => [
    'build', '--root', root, '-q', '-t', tag, '-f', join(ctx, file), '--source-date-epoch', '1700000000', '--build-arg', `BASE=${base}`, ctx,
  ];

  beforeAll(async () => {
    registry = await startRegistry();
    base = await seedBusybox(registry.host);
    ctx = await makeTempDir('tsbuild-crash-ctx');
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
    await writeFile(join(ctx, 'Run.Dockerfile'), RUN_DOCKERFILE);
    await writeFile(join(ctx, 'a.txt'), 'context file\n');
    // An undisturbed build in its own store gives the digest every later build must reproduce.
    const alone = await makeTempDir('tsbuild-crash-ref');
    const r = await runTsbuild(['build', '--root', alone, '-q', '-t', 'crash:1', '--source-date-epoch', '1700000000', '--build-arg', `BASE=${base}`, ctx]);
    expect(r.stderr).toBe('');
    reference = r.stdout.trim();
    expect(reference).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
  afterAll(async () => {
    await registry?.stop();
  });

  async function assertRecovers(label: string): Promise<void> {
    expect(await mountsUnder(root), `${label}: host mounts`).toEqual([]);
    const check = await runTsbuild(['fsck', '--root', root]);
    expect(check.code, `${label}: fsck\n${check.stdout}${check.stderr}`).toBe(0);
    expect(check.stdout, label).not.toContain('DAMAGE');
    const repair = await runTsbuild(['fsck', '--root', root, '--repair']);
    expect(repair.code, `${label}: fsck --repair\n${repair.stdout}`).toBe(0);
    const clean = await runTsbuild(['fsck', '--root', root]);
    expect(clean.stdout, label).toMatch(/\nconsistent\n$/);
    const next = await runTsbuild(buildArgs('crash:1'));
    expect(next.stderr, `${label}: next build`).toBe('');
    expect(next.stdout.trim(), `${label}: next build's image`).toBe(reference);
  }

  async function killAt(point: string, args: string[]): Promise<void> {
    const marker = join(await makeTempDir('tsbuild-crash-marker'), 'paused');
    const started = startTsbuild(args, { TSBUILD_TEST_PAUSE_AT: point, TSBUILD_TEST_PAUSE_MARKER: marker });
    const pausedPid = Number(await waitFor(`pause point ${point}`, () => fileText(marker), 90_000, started.done));
    // What a user's `kill -9 <tsbuild>` does: only the process they know of gets the signal.
    started.child.kill('SIGKILL');
    const { code } = await started.done;
    expect(code).toBe(137);
    // The re-executed build inside the namespace must die with it (PDEATHSIG), not run on alone.
    await waitGone(pausedPid, `the build paused at ${point}`);
  }

  // Each point in a fresh store, so the kill hits a build that really writes there.
  for (const point of ['blob-install', 'layer-commit', 'layer-install', 'tag-update', 'atomic-rename'] as const) {
    it(`a build killed at ${point} leaves a consistent store and the next build succeeds`, async () => {
      // The store first: buildArgs() reads `root` when it is called.
      root = await makeTempDir(`tsbuild-crash-${point}`);
      await killAt(point, buildArgs('crash:1'));
      await assertRecovers(point);
    });
  }

  it('a build killed while a RUN step runs leaves no step process, no mount, and a consistent store', async () => {
    root = await makeTempDir('tsbuild-crash-run');
    const started = startTsbuild(buildArgs('run:1', 'Run.Dockerfile'), {});
    await waitFor('the RUN step to start', () => findUnder(join(root, 'tmp'), 'running-now'), 90_000, started.done);
    expect((await processesWith('sleep 4242')).length).toBeGreaterThan(0);
    started.child.kill('SIGKILL');
    expect((await started.done).code).toBe(137);
    await waitFor('the step process to be gone', async () => ((await processesWith('sleep 4242')).length === 0 ? true : undefined), 10_000);
    await assertRecovers('RUN');
  });

  for (const point of ['push-blob', 'push-manifest'] as const) {
    it(`a push killed at ${point} leaves no partial image in the registry or the OCI layout, and the next push works`, async () => {
      root = await makeTempDir(`tsbuild-crash-${point}`);
      expect((await runTsbuild(buildArgs('crash:1'))).stdout.trim()).toBe(reference);
      const dest = `${registry.host}/crash/${point}:1`;
      await killAt(point, ['push', '--root', root, '-q', 'crash:1', `docker://${dest}`]);
      // The tag must not exist yet: a manifest is only put after all its blobs.
      const inspect = await execCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${dest}`]);
      expect(inspect.code, inspect.stdout).not.toBe(0);
      const layoutParent = await makeTempDir('tsbuild-crash-layout');
      const layout = join(layoutParent, 'out');
      await mkdir(layout);
      await killAt(point, ['push', '--root', root, '-q', 'crash:1', `oci:${layout}:1`]);
      // Whatever a killed export left, it is never an index naming an image.
      const index = await fileText(join(layout, 'index.json'));
      if (index !== undefined) expect(JSON.parse(index).manifests ?? []).toEqual([]);
      await assertRecovers(point);
      for (const target of [`docker://${dest}`, `oci:${layout}:1`]) {
        const push = await runTsbuild(['push', '--root', root, '-q', 'crash:1', target]);
        expect(push.stderr).toBe('');
        expect(push.code).toBe(0);
      }
      // skopeo verifies every blob's digest while copying: a complete, intact image.
      const copy = await execCommand('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${dest}`, `oci:${join(layoutParent, 'check')}:1`]);
      expect(copy.stderr).toBe('');
      const cfg = await execCommand('skopeo', ['inspect', '--config', `oci:${layout}:1`]);
      expect(cfg.code).toBe(0);
    });
  }
});
