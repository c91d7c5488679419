/**
 * Two "machines" (two stores, two checkouts) sharing a registry: the second builds the same
 * commit entirely from the first one's exported cache, downloading only the final image's
 * layers, and finds the first one's RUN --mount=type=cache contents.
 */
import { cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, startRegistry, type BusyboxLayout, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

interface Event {
  type: string;
  step?: { name: string; stage: string };
  cached?: boolean;
  digest?: string;
  message?: string;
}

const DOCKERFILE = `FROM base AS deps
RUN --mount=type=cache,target=/cache echo filled > /cache/marker && echo deps > /deps && echo not-copied > /scratch

FROM base
ARG BUST=0
COPY --from=deps /deps /deps
COPY app.txt /app.txt
RUN --mount=type=cache,target=/cache cat /cache/marker > /seen && echo $BUST > /bust
`;

let base: BusyboxLayout;
let registry: TestRegistry;

beforeAll(async () => {
  base = await busyboxLayout();
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
});

async function tsbuild(ctx: string, store: string, extra: string[]): Promise<{ id: string; events: Event[] }> {
  const res = await runTsbuild(['build', '--root', store, '--progress', 'json', '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, ...extra, ctx]);
  expect(res.code, res.stderr).toBe(0);
  const events = res.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event);
  return { id: res.stdout.trim(), events };
}

async function blobs(store: string): Promise<string[]> {
  return (await readdir(join(store, 'blobs', 'sha256'))).map((h) => `sha256:${h}`);
}

describe('remote build cache', () => {
  it('a second store hits every step from the registry cache, fetches only the final layers and gets the cache mounts', async () => {
    const ctxA = await makeTempDir('tsbuild-rcache-a');
    await writeFile(join(ctxA, 'Dockerfile'), DOCKERFILE);
    await writeFile(join(ctxA, 'app.txt'), 'app\n');
    const ctxB = join(await makeTempDir('tsbuild-rcache-b'), 'checkout');
    await cp(ctxA, ctxB, { recursive: true });
    const cacheRef = `${registry.host}/cache/app:buildcache`;

    const storeA = await makeTempDir('tsbuild-rcache-store');
    const a = await tsbuild(ctxA, storeA, ['--cache-to', `type=registry,ref=${cacheRef},mode=max,mounts=true`]);
    const depsLayer = a.events.find((e) => e.type === 'layer' && e.step?.stage === 'deps')?.digest;
    expect(depsLayer).toMatch(/^sha256:/);
    expect(a.events.some((e) => e.type === 'info' && e.message?.startsWith('exported cache to registry'))).toBe(true);

    const storeB = await makeTempDir('tsbuild-rcache-store');
    const b = await tsbuild(ctxB, storeB, ['--cache-from', `type=registry,ref=${cacheRef}`, '-o', `type=oci,dest=${join(storeB, '..', 'out')},tar=false`]);
    const steps = b.events.filter((e) => e.type === 'step-end' && !/\] FROM /.test(e.step?.name ?? ''));
    expect(steps.length).toBe(5);
    expect(steps.filter((e) => !e.cached).map((e) => e.step?.name)).toEqual([]);
    expect(b.id).toBe(a.id);
    // The deps stage's own layer is not in the final image: it stays in the registry.
    expect(await blobs(storeB)).not.toContain(depsLayer);

    // A step that runs again finds the cache mount the first machine filled.
    const c = await tsbuild(ctxB, storeB, ['--cache-from', `type=registry,ref=${cacheRef}`, '--build-arg', 'BUST=1']);
    const run = c.events.filter((e) => e.type === 'step-end' && e.step?.name.includes('cat /cache/marker'));
    expect(run.map((e) => e.cached)).toEqual([false]);
  });

  it('type=local exports to and imports from an OCI layout directory', async () => {
    const ctx = await makeTempDir('tsbuild-rcache-l');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM base\nCOPY app.txt /app.txt\nRUN cp /app.txt /copy\n');
    await writeFile(join(ctx, 'app.txt'), 'app\n');
    const dir = join(await makeTempDir('tsbuild-rcache-dir'), 'cache');
    await tsbuild(ctx, await makeTempDir('tsbuild-rcache-store'), ['--cache-to', `type=local,dest=${dir}`]);
    const b = await tsbuild(ctx, await makeTempDir('tsbuild-rcache-store'), ['--cache-from', `type=local,src=${dir}`]);
    expect(b.events.filter((e) => e.type === 'step-end' && !/\] FROM /.test(e.step?.name ?? '')).map((e) => e.cached)).toEqual([true, true]);
  });
});
