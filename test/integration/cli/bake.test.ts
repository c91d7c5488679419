/** `tsbuild bake` on examples/compose: three services, one process, built at the same time. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { judgeContainer, readContainerFacts } from '../../../src/isolation/containerCheck.js';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';

let base: BusyboxLayout;
beforeAll(async () => {
  base = await busyboxLayout();
}, 120_000);

interface Event {
  type: string;
  time: number;
  step?: { id: number; name: string; stage: string };
  [k: string]: unknown;
}

describe('tsbuild bake', () => {
  it('builds the three services of examples/compose in parallel into one store', async () => {
    const store = await makeTempDir('tsbuild-bake-store');
    const compose = join(repoRoot(), 'examples', 'compose', 'compose.yaml');
    const res = await runTsbuild(['bake', '-f', compose, '--root', store, '--progress', 'json'], { env: { BASE_LAYOUT: base.dir } });
    expect(res.code, res.stderr).toBe(0);
    // stdout: service=imageID, one per service, in file order.
    expect(res.stdout).toMatch(/^web=sha256:[0-9a-f]{64}\napp=sha256:[0-9a-f]{64}\ndb=sha256:[0-9a-f]{64}\n$/);

    const events = res.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Event);
    // Step ids are unique across the whole bake, and every step names its service.
    const starts = events.filter((e) => e.type === 'step-start');
    expect(new Set(starts.map((e) => e.step?.id)).size).toBe(starts.length);
    const span = new Map<string, { start: number; end: number }>();
    for (const e of events) {
      if (!e.step) continue;
      const service = e.step.stage.split('/')[0] as string;
      const s = span.get(service) ?? { start: Infinity, end: -Infinity };
      span.set(service, { start: Math.min(s.start, e.time), end: Math.max(s.end, e.time) });
    }
    expect([...span.keys()].sort()).toEqual(['app', 'db', 'web']);
    // In parallel: every service started before any of them finished.
    const latestStart = Math.max(...[...span.values()].map((s) => s.start));
    const earliestEnd = Math.min(...[...span.values()].map((s) => s.end));
    expect(latestStart).toBeLessThan(earliestEnd);
    const results = events.filter((e) => e.type === 'result');
    expect(results.map((r) => r['service'])).toEqual(['web', 'app', 'db']);

    const images = await runTsbuild(['images', '--root', store, '--json']);
    expect(images.code, images.stderr).toBe(0);
    const names = (JSON.parse(images.stdout) as Array<{ name: string }>).map((i) => i.name).sort();
    expect(names).toEqual([
      'docker.io/threetier/app:1',
      'docker.io/threetier/app:latest',
      'docker.io/threetier/db:1',
      'docker.io/threetier/web:1',
    ]);
  }, 120_000);

  it('builds only the named service, and says which service has no build section', async () => {
    const store = await makeTempDir('tsbuild-bake-store');
    const compose = join(repoRoot(), 'examples', 'compose', 'compose.yaml');
    const one = await runTsbuild(['bake', '-f', compose, '--root', store, '--progress', 'plain', 'db'], { env: { BASE_LAYOUT: base.dir } });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^db=sha256:[0-9a-f]{64}\n$/);
    expect(one.stderr).toMatch(/#\d+ db \[stage-0 \d\/\d\] RUN mkdir -p \/data/);
    const bad = await runTsbuild(['bake', '-f', compose, '--root', store, 'cache'], { env: { BASE_LAYOUT: base.dir } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: service cache has no build section');
  }, 120_000);

  it('shares the build cache with later bakes, like tsbuild build', async () => {
    const store = await makeTempDir('tsbuild-bake-store');
    const compose = join(repoRoot(), 'examples', 'compose', 'compose.yaml');
    const first = await runTsbuild(['bake', '-f', compose, '--root', store, '--progress', 'json', 'db'], { env: { BASE_LAYOUT: base.dir } });
    expect(first.code, first.stderr).toBe(0);
    const again = await runTsbuild(['bake', '-f', compose, '--root', store, '--progress', 'json', 'db'], { env: { BASE_LAYOUT: base.dir } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    const ends = again.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Event).filter((e) => e.type === 'step-end' && !/ FROM /.test(e.step?.name ?? ''));
    expect(ends.length).toBeGreaterThan(0);
    expect(ends.every((e) => e['cached'] === true)).toBe(true);
  }, 120_000);

  it('mounts compose secrets (file: and environment:) in RUN, and exports/imports the cache through cache_to/cache_from', async () => {
    const proj = await makeTempDir('tsbuild-bake-proj');
    const cacheDir = join(await makeTempDir('tsbuild-bake-cache'), 'cache');
    await writeFile(join(proj, 'token.txt'), 's3cret');
    await writeFile(
      join(proj, 'compose.yaml'),
      `services:
  api:
    image: shop/api:1
    build:
      context: .
      dockerfile_inline: |
        FROM base
        RUN --mount=type=secret,id=api_token --mount=type=secret,id=pw echo "token=$(cat /run/secrets/api_token) pw=$(cat /run/secrets/pw)"
        RUN echo built > /built
      additional_contexts:
        base: oci-layout://${base.dir}:latest
      secrets:
        - api_token
        - source: db_password
          target: pw
      cache_from: ["type=local,src=${cacheDir}"]
      cache_to: ["type=local,dest=${cacheDir},mode=max"]
secrets:
  api_token:
    file: ./token.txt
  db_password:
    environment: DB_PW
`,
    );
    const bake = (store: string) => runTsbuild(['bake', '-f', join(proj, 'compose.yaml'), '--root', store, '--progress', 'json'], { env: { DB_PW: 'hunter2' } });
    const first = await bake(await makeTempDir('tsbuild-bake-store'));
    expect(first.code, first.stderr).toBe(0);
    const events = first.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Event);
    expect(events.filter((e) => e.type === 'step-log').map((e) => e['data']).join('')).toContain('token=s3cret pw=hunter2\n');
    expect(first.stderr).not.toContain('not supported by bake');
    // No cache yet: a warning, not a failure; then the export.
    expect(events.some((e) => e.type === 'warning' && /cache-from .*not used/.test(String(e['message'])))).toBe(true);
    expect(events.some((e) => e.type === 'info' && /^api: exported cache to .*: \d+ steps/.test(String(e['message'])))).toBe(true);

    // A fresh store finds every step in the exported cache.
    const second = await bake(await makeTempDir('tsbuild-bake-store'));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const ends = second.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Event).filter((e) => e.type === 'step-end' && / RUN /.test(e.step?.name ?? ''));
    expect(ends).toHaveLength(2);
    expect(ends.every((e) => e['cached'] === true)).toBe(true);
  }, 120_000);

  it('names the service and key of a bad cache spec or an undefined secret', async () => {
    const proj = await makeTempDir('tsbuild-bake-proj');
    const write = (extra: string) =>
      writeFile(join(proj, 'compose.yaml'), `services:\n  api:\n    build:\n      context: .\n      dockerfile_inline: "FROM scratch"\n${extra}`);
    await write('      cache_to: ["type=s3,bucket=x"]\n');
    const badCache = await runTsbuild(['bake', '-f', join(proj, 'compose.yaml'), '--root', await makeTempDir('tsbuild-bake-store')]);
    expect(badCache.code).not.toBe(0);
    expect(badCache.stderr).toMatch(/services\.api\.build\.cache_to: .*type must be registry or local/);
    await write('      secrets: [nope]\n');
    const badSecret = await runTsbuild(['bake', '-f', join(proj, 'compose.yaml'), '--root', await makeTempDir('tsbuild-bake-store')]);
    expect(badSecret.code).not.toBe(0);
    expect(badSecret.stderr).toContain('services.api.build.secrets names secret nope, which the top-level secrets: does not define');
  }, 60_000);

  it('honours --isolation and TSBUILD_ISOLATION like tsbuild build: chroot gives the rootless images, an impossible mode is refused with build\'s message', async () => {
    const compose = join(repoRoot(), 'examples', 'compose', 'compose.yaml');
    const env = { BASE_LAYOUT: base.dir, SOURCE_DATE_EPOCH: '1700000000' };
    const rootless = await runTsbuild(['bake', '-f', compose, '--root', await makeTempDir('tsbuild-bake-store'), '--progress', 'plain', '--isolation', 'rootless', 'db'], { env });
    expect(rootless.code, rootless.stderr).toBe(0);
    expect(rootless.stderr).toContain('isolation: rootless (asked for with --isolation rootless)');
    const chroot = await runTsbuild(['bake', '-f', compose, '--root', await makeTempDir('tsbuild-bake-store'), '--progress', 'plain', 'db'], { env: { ...env, TSBUILD_ISOLATION: 'chroot' } });
    expect(chroot.code, chroot.stderr).toBe(0);
    expect(chroot.stderr).toContain('isolation: chroot (asked for with --isolation chroot)');
    expect(chroot.stderr).toMatch(/#\d+ db \[stage-0 \d\/\d\] RUN mkdir -p \/data/);
    // The same image, digest for digest, whichever mode built it.
    expect(chroot.stdout).toMatch(/^db=sha256:[0-9a-f]{64}\n$/);
    expect(chroot.stdout).toBe(rootless.stdout);

    // `none` never works on this test host (not a throw-away container): refused before anything is built.
    // Checked first, so the commands below can never replace this machine's files.
    expect(judgeContainer(await readContainerFacts()).inContainer, 'this test host looks like a throw-away container; run the suite on a machine or VM').toBe(false);
    const store = await makeTempDir('tsbuild-bake-store');
    const bake = await runTsbuild(['bake', '-f', compose, '--root', store, 'db'], { env: { ...env, TSBUILD_ISOLATION: 'none' } });
    const build = await runTsbuild(['build', '--root', store, join(repoRoot(), 'examples', 'compose', 'db')], { env: { ...env, TSBUILD_ISOLATION: 'none' } });
    expect(build.code).toBe(1);
    expect(bake.code).toBe(build.code);
    const errorLine = (text: string) => text.split('\n').find((l) => l.startsWith('error: '));
    expect(errorLine(build.stderr)).toMatch(/^error: --isolation none /);
    expect(errorLine(bake.stderr)).toBe(errorLine(build.stderr));
  }, 180_000);

  it('takes build\'s RUN flags: --secret reaches every service (next to compose secrets), a bad --security-opt is refused as build refuses it', async () => {
    const proj = await makeTempDir('tsbuild-bake-proj');
    await writeFile(join(proj, 'token.txt'), 'from-compose');
    await writeFile(
      join(proj, 'compose.yaml'),
      `services:
  api:
    build:
      context: .
      dockerfile_inline: |
        FROM base
        RUN --mount=type=secret,id=flag_tok --mount=type=secret,id=api_token echo "flag=$(cat /run/secrets/flag_tok) compose=$(cat /run/secrets/api_token)"
      additional_contexts:
        base: oci-layout://${base.dir}:latest
      secrets: [api_token]
secrets:
  api_token:
    file: ./token.txt
`,
    );
    const res = await runTsbuild(['bake', '-f', join(proj, 'compose.yaml'), '--root', await makeTempDir('tsbuild-bake-store'), '--progress', 'plain', '--secret', 'id=flag_tok,env=FLAG_TOK'], { env: { FLAG_TOK: 'from-flag' } });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('flag=from-flag compose=from-compose');

    await writeFile(join(proj, 'Dockerfile'), 'FROM scratch\n');
    const store = await makeTempDir('tsbuild-bake-store');
    const bake = await runTsbuild(['bake', '-f', join(proj, 'compose.yaml'), '--root', store, '--security-opt', 'apparmor=x']);
    const build = await runTsbuild(['build', '--root', store, '--security-opt', 'apparmor=x', proj]);
    expect(build.code).not.toBe(0);
    expect(bake.code).toBe(build.code);
    expect(bake.stderr).toContain('error: unsupported --security-opt "apparmor=x"');
    expect(build.stderr).toContain('error: unsupported --security-opt "apparmor=x"');
  }, 120_000);
});
