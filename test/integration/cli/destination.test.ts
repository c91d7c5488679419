/** kaniko's --destination and bake --push: what was built ends up in a real registry. */
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { busyboxLayout, startRegistry, type BusyboxLayout, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

let base: BusyboxLayout;
let reg: TestRegistry;
beforeAll(async () => {
  base = await busyboxLayout();
  reg = await startRegistry();
}, 120_000);
afterAll(async () => {
  await reg?.stop();
});

async function remoteDigest(ref: string): Promise<string> {
  const res = await execCommand('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${ref}`]);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.trim();
}

describe('pushing what was built', () => {
  it('build --destination pushes the image under that name, with transfer lines in plain progress', async () => {
    const ctx = await makeTempDir('tsbuild-dest-ctx');
    const store = await makeTempDir('tsbuild-dest-store');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo hi > /hi\n');
    const ref = `${reg.host}/team/app:1`;
    const res = await runTsbuild(['build', '--root', store, '--progress', 'plain', '--build-context', `busybox=oci-layout://${base.dir}:latest`, '--destination', ref, '--tls-verify=false', ctx]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/ push [0-9a-f]{12} \S+ done$/m);
    expect(res.stderr).toContain(`pushed ${ref}`);
    const digest = /^image +(sha256:[0-9a-f]{64})/m.exec(res.stderr)?.[1];
    expect(await remoteDigest(ref)).toBe(digest);
  }, 90_000);

  it('bake --push pushes every service image', async () => {
    const store = await makeTempDir('tsbuild-bake-push-store');
    const dir = await makeTempDir('tsbuild-bake-push');
    await writeFile(join(dir, 'Dockerfile'), 'FROM base\nRUN echo one > /one\n');
    await writeFile(
      join(dir, 'compose.yaml'),
      `services:\n  one:\n    image: ${reg.host}/bake/one:1\n    build:\n      context: .\n      additional_contexts:\n        base: oci-layout://${base.dir}:latest\n`,
    );
    const res = await runTsbuild(['bake', '--root', store, '--push', '--progress', 'plain'], { cwd: dir });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`one: pushed ${reg.host}/bake/one:1`);
    expect(await remoteDigest(`${reg.host}/bake/one:1`)).toMatch(/^sha256:[0-9a-f]{64}$/);
  }, 90_000);
});
