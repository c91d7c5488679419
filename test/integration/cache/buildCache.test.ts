/**
 * The build cache as a user meets it: rebuilds through the CLI against a store on disk, checked
 * through the json progress (which steps were CACHED, and why the others were not) and the store.
 */
import { cp, mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

interface StepEnd {
  type: 'step-end';
  step: { name: string; stage: string };
  time: number;
  durationMs: number;
  cached: boolean;
  cacheReason?: string;
  error?: string;
}

interface Build {
  id: string;
  steps: StepEnd[];
  stderr: string;
}

let base: BusyboxLayout;

beforeAll(async () => {
  base = await busyboxLayout();
});

async function tsbuild(ctx: string, store: string, extra: string[] = []): Promise<Build> {
  const res = await runTsbuild(['build', '--root', store, '--progress', 'json', '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, ...extra, ctx]);
  expect(res.stderr, res.stderr).not.toContain('"error"');
  expect(res.code, res.stderr).toBe(0);
  const steps = res.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string })
    .filter((e): e is StepEnd => e.type === 'step-end')
    // FROM is resolved, not cached; the cache is about the steps after it.
    .filter((e) => !/\] FROM /.test(e.step.name));
  return { id: res.stdout.trim(), steps, stderr: res.stderr };
}

function byInstruction(b: Build): Record<string, StepEnd> {
  return Object.fromEntries(b.steps.map((s) => [s.step.name.replace(/^\[[^\]]*\] /, ''), s]));
}

async function project(files: Record<string, string>): Promise<string> {
  const dir = await makeTempDir('tsbuild-cache-ctx');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

/** Every file of the store but its temp dir, with size and mtime: what "rewrites nothing" means. */
async function storeFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      const rel = relative(root, p);
      if (rel === 'tmp') continue;
      if (entry.isDirectory()) await walk(p);
      else {
        const st = await stat(p);
        out.push(`${rel} ${st.size} ${st.mtimeMs}`);
      }
    }
  };
  await walk(root);
  return out.sort();
}

const APP = {
  Dockerfile: `FROM base
ARG VERSION=1
ARG FLAVOR=plain
WORKDIR /app
COPY a.txt /a.txt
LABEL flavor=$FLAVOR
COPY src/ /app/src/
RUN cat /app/src/main.ts > /app/built && echo "v=$VERSION" > /app/version
ENV MODE=prod
CMD ["cat", "/app/version"]
`,
  'a.txt': 'a\n',
  'src/main.ts': 'console.log(1)\n',
  'src/util.ts': 'export {}\n',
};

describe('build cache', () => {
  it('a rebuild with no change is fully cached, gives the same image and rewrites nothing in the store', async () => {
    const ctx = await project(APP);
    const store = await makeTempDir('tsbuild-cache-store');
    const first = await tsbuild(ctx, store, ['-t', 'app:1']);
    expect(first.steps.every((s) => !s.cached)).toBe(true);
    const before = await storeFiles(store);
    const second = await tsbuild(ctx, store, ['-t', 'app:1']);
    expect(second.steps.length).toBe(9);
    expect(second.steps.filter((s) => !s.cached).map((s) => s.step.name)).toEqual([]);
    expect(second.id).toBe(first.id);
    expect(await storeFiles(store)).toEqual(before);
  });

  it('still hits when only mtimes changed (a fresh checkout), and misses exactly what a changed file feeds', async () => {
    const ctx = await project(APP);
    const store = await makeTempDir('tsbuild-cache-store');
    await tsbuild(ctx, store);
    const later = new Date(Date.now() + 3_600_000);
    for (const f of ['a.txt', 'src/main.ts', 'src/util.ts', 'src']) await utimes(join(ctx, f), later, later);
    const touched = await tsbuild(ctx, store);
    expect(touched.steps.filter((s) => !s.cached).map((s) => s.step.name)).toEqual([]);

    await writeFile(join(ctx, 'src/main.ts'), 'console.log(2)\n');
    const changed = byInstruction(await tsbuild(ctx, store, ['--explain-cache']));
    for (const hit of ['ARG VERSION=1', 'ARG FLAVOR=plain', 'WORKDIR /app', 'COPY a.txt /a.txt', 'LABEL flavor=$FLAVOR']) expect(changed[hit]?.cached, hit).toBe(true);
    expect(changed['COPY src/ /app/src/']?.cached).toBe(false);
    expect(changed['COPY src/ /app/src/']?.cacheReason).toBe('1 file changed: src/main.ts');
    expect(changed['RUN cat /app/src/main.ts > /app/built && echo "v=$VERSION" > /app/version']?.cacheReason).toBe('an earlier step changed the image');
  });

  it('a changed build arg misses only the steps that can see it', async () => {
    const ctx = await project(APP);
    const store = await makeTempDir('tsbuild-cache-store');
    await tsbuild(ctx, store, ['--build-arg', 'VERSION=1']);
    const b = await tsbuild(ctx, store, ['--build-arg', 'VERSION=2', '--explain-cache']);
    const steps = byInstruction(b);
    expect(b.steps.filter((s) => !s.cached).map((s) => s.step.name.replace(/^\[[^\]]*\] /, ''))).toEqual([
      'ARG VERSION=1',
      'RUN cat /app/src/main.ts > /app/built && echo "v=$VERSION" > /app/version',
      'ENV MODE=prod',
      'CMD ["cat", "/app/version"]',
    ]);
    expect(steps['ARG VERSION=1']?.cacheReason).toBe('build arg VERSION changed');
    expect(steps['RUN cat /app/src/main.ts > /app/built && echo "v=$VERSION" > /app/version']?.cacheReason).toBe('build arg VERSION changed');
    expect(b.stderr).toContain('cache misses:');
    // A build arg only a LABEL expands misses that LABEL (and what follows it), nothing before.
    const f = byInstruction(await tsbuild(ctx, store, ['--build-arg', 'VERSION=2', '--build-arg', 'FLAVOR=fancy']));
    expect(f['COPY a.txt /a.txt']?.cached).toBe(true);
    expect(f['LABEL flavor=$FLAVOR']?.cached).toBe(false);
  });

  it('--no-cache and --no-cache-filter run the steps again and say why', async () => {
    const ctx = await project({
      Dockerfile: 'FROM base AS one\nRUN echo one > /one\n\nFROM base\nCOPY --from=one /one /one\nRUN echo two > /two\n',
    });
    const store = await makeTempDir('tsbuild-cache-store');
    await tsbuild(ctx, store);
    const all = await tsbuild(ctx, store, ['--no-cache']);
    expect(all.steps.every((s) => !s.cached && s.cacheReason === 'cache disabled (--no-cache)')).toBe(true);
    // Stage one runs again; with SOURCE_DATE_EPOCH its RUN makes the very same layer, so the steps
    // that read it hit again (keys chain on a step's result, not on whether it ran).
    await tsbuild(ctx, store, ['--source-date-epoch', '1700000000']);
    const filtered = await tsbuild(ctx, store, ['--no-cache-filter', 'one', '--source-date-epoch', '1700000000']);
    expect(filtered.steps.map((s) => [s.step.stage, s.cached])).toEqual([
      ['one', false],
      ['stage-1', true],
      ['stage-1', true],
    ]);
  });

  it('cache du counts the entries and cache prune removes them but keeps what a tagged image uses', async () => {
    const ctx = await project(APP);
    const store = await makeTempDir('tsbuild-cache-store');
    const first = await tsbuild(ctx, store, ['-t', 'kept:1']);
    await tsbuild(ctx, store, ['--build-arg', 'VERSION=9']);
    const du = await runTsbuild(['cache', 'du', '--json', '--root', store]);
    expect(du.code, du.stderr).toBe(0);
    const usage = JSON.parse(du.stdout) as { entries: number; layers: number; bytes: number; reclaimable: number };
    expect(usage.entries).toBeGreaterThanOrEqual(9);
    expect(usage.reclaimable).toBeGreaterThan(0);
    expect(usage.reclaimable).toBeLessThan(usage.bytes);

    const kept = await runTsbuild(['cache', 'prune', '--json', '--root', store, '--filter', 'until=24h']);
    expect(JSON.parse(kept.stdout)).toEqual({ entries: 0, blobs: 0, bytes: 0 });
    const prune = await runTsbuild(['cache', 'prune', '--json', '--root', store]);
    expect(prune.code, prune.stderr).toBe(0);
    const pruned = JSON.parse(prune.stdout) as { entries: number; blobs: number };
    expect(pruned.entries).toBe(usage.entries);
    // Only the VERSION=9 RUN layer was cache-only; the tagged image keeps all of its own.
    expect(pruned.blobs).toBe(1);
    const inspect = await runTsbuild(['push', '--root', store, 'kept:1', `oci:${await makeTempDir('tsbuild-cache-out')}/o:1`]);
    expect(inspect.code, inspect.stderr).toBe(0);
    const again = await tsbuild(ctx, store, ['-t', 'kept:1']);
    expect(again.steps.every((s) => !s.cached)).toBe(true);
    expect(again.id).not.toBe('');
    expect(first.id).not.toBe('');
  });

  it('two independent stages run at the same time', async () => {
    const ctx = await project({
      Dockerfile: 'FROM base AS one\nRUN sleep 1 && echo one > /one\n\nFROM base AS two\nRUN sleep 1 && echo two > /two\n\nFROM base\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n',
    });
    const store = await makeTempDir('tsbuild-cache-store');
    const b = await tsbuild(ctx, store, ['--jobs', '2']);
    const run = (stage: string) => b.steps.find((s) => s.step.stage === stage && s.step.name.includes('RUN'));
    const one = run('one');
    const two = run('two');
    expect(one && two).toBeTruthy();
    const span = (s: StepEnd) => [s.time - s.durationMs, s.time] as const;
    const [s1, e1] = span(one!);
    const [s2, e2] = span(two!);
    expect(Math.min(e1, e2) - Math.max(s1, s2)).toBeGreaterThan(500);
  });

  it('is reproducible: two stores and two checkouts in different directories give the same digest', async () => {
    const ctx1 = await project(APP);
    const ctx2 = await makeTempDir('tsbuild-cache-ctx2');
    await cp(ctx1, join(ctx2, 'elsewhere'), { recursive: true, preserveTimestamps: false });
    const a = await tsbuild(ctx1, await makeTempDir('tsbuild-cache-store'), ['--source-date-epoch', '1700000000']);
    const b = await tsbuild(join(ctx2, 'elsewhere'), await makeTempDir('tsbuild-cache-store'), ['--source-date-epoch', '1700000000']);
    expect(b.id).toBe(a.id);
  });
});
