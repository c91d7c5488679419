/** The config file's registries.mirrors reaches pulls and builds, as TSBUILD_REGISTRY_MIRRORS does. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execChecked } from '../../helpers/exec.js';
import { busyboxLayout, startRegistry, type BusyboxLayout, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

describe('registries.mirrors in the config file', () => {
  let registry: TestRegistry;
  let layout: BusyboxLayout;
  beforeAll(async () => {
    registry = await startRegistry();
    layout = await busyboxLayout();
    // The mirror holds docker.io/library/busybox:viaconfig; Docker Hub itself is unreachable here.
    await execChecked('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', `oci:${layout.dir}:${layout.tag}`, `docker://${registry.host}/library/busybox:viaconfig`]);
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
  });

  it('pulls and builds FROM docker.io images through the configured mirror', async () => {
    const dir = await makeTempDir('tsbuild-mirror-cfg');
    await writeFile(join(dir, 'config.yaml'), `registries:\n  mirrors:\n    docker.io: ["http://${registry.host}/"]\n`);
    const env = { TSBUILD_CONFIG: join(dir, 'config.yaml'), TSBUILD_ROOT: join(dir, 'store'), DOCKER_CONFIG: join(dir, 'docker'), TSBUILD_REGISTRY_MIRRORS: '' };
    const pull = await runTsbuild(['pull', '-q', 'busybox:viaconfig'], { env });
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(layout.digest);

    const ctx = join(dir, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:viaconfig\nLABEL via=mirror\n');
    const build = await runTsbuild(['build', '--pull', '--progress', 'plain', '-t', 'mirrored:1', ctx], { env: { ...env, TSBUILD_ROOT: join(dir, 'store2') } });
    expect(build.code, build.stderr).toBe(0);
    expect(build.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  }, 120_000);
});
