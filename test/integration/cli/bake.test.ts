/** `tsbuild bake` on examples/compose: three services, one process, built at the same time. */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
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
});
