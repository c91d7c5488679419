/**
 * The pure parts of the build record (src/cli/buildMemo.ts): what makes two invocations the same,
 * where the record lives, which builds may keep one, and what a replay shows. The record's use
 * end to end is test/integration/launcher/buildMemo.test.ts.
 */
import { readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as Parser from '@oclif/core/parser';
import { describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../../src/build/progress.js';
import { BUILD_ARGS, BUILD_FLAGS } from '../../../src/cli/buildFlags.js';
import { BuildMemoRecorder, dropOldRecords, memoEligible, memoKey, memoPath, type MemoIdentity } from '../../../src/cli/buildMemo.js';
import { normalizeBooleanFlags } from '../../../src/cli/flagSuggest.js';
import { makeTempDir } from '../../helpers/tmp.js';

const id: MemoIdentity = { code: '/x/tsbuild.blob:1:2:3:4', argv: ['-t', 'app:1', '.'], cwd: '/src', env: { A: '1', B: '2' }, uid: 1000, ttys: '---' };

async function flagsOf(argv: string[]) {
  const { flags, args } = await Parser.parse(normalizeBooleanFlags(argv, BUILD_FLAGS), { flags: BUILD_FLAGS, args: BUILD_ARGS, strict: true });
  return { flags, context: flags.context ?? args.context };
}

describe('memoKey', () => {
  it('is the same for the same invocation, whatever the order of the environment', () => {
    expect(memoKey({ ...id, env: { B: '2', A: '1' } })).toBe(memoKey(id));
  });

  it('changes with anything of the invocation', () => {
    const variants: MemoIdentity[] = [
      { ...id, code: '/x/tsbuild.blob:1:2:3:5' },
      { ...id, argv: ['-t', 'app:2', '.'] },
      { ...id, cwd: '/other' },
      { ...id, env: { A: '1', B: '3' } },
      { ...id, env: { A: '1', B: '2', C: '' } },
      { ...id, uid: 0 },
      { ...id, ttys: '--t' },
    ];
    const keys = new Set([memoKey(id), ...variants.map(memoKey)]);
    expect(keys.size).toBe(variants.length + 1);
  });
});

describe('memoPath', () => {
  it('is under the store --root names, else $TSBUILD_ROOT, else the default store', () => {
    expect(memoPath(['--root', 'store', '.'], {}, '/w', 'k')).toBe('/w/store/cache/memo/k.json');
    expect(memoPath(['--root=/s', '.'], {}, '/w', 'k')).toBe('/s/cache/memo/k.json');
    expect(memoPath(['.'], { TSBUILD_ROOT: '/t' }, '/w', 'k')).toBe('/t/cache/memo/k.json');
    expect(memoPath(['.'], { HOME: '/home/u' }, '/w', 'k')).toBe('/home/u/.local/share/tsbuild/cache/memo/k.json');
    // After `--`, a word is an argument, not a flag.
    expect(memoPath(['--', '--root', '/s'], { TSBUILD_ROOT: '/t' }, '/w', 'k')).toBe('/t/cache/memo/k.json');
  });
});

describe('memoEligible', () => {
  it('takes a build whose one output is the store, from a context directory', async () => {
    const { flags, context } = await flagsOf(['-t', 'app:1', '--build-arg', 'A=1', '/ctx']);
    expect(memoEligible(flags, context, '/ctx')).toBe(true);
  });

  it.each([
    ['-o', 'type=oci,dest=/o'],
    ['--push'],
    ['--destination', 'r/x:1'],
    ['--iidfile', '/i'],
    ['--metadata-file', '/m'],
    ['--cache-to', 'type=local,dest=/c'],
    ['--cache-from', 'type=local,src=/c'],
    ['--secret', 'id=s,src=/s'],
    ['--ssh', 'default'],
    ['--pull'],
    ['--no-cache'],
    ['--no-cache-filter', 'a'],
    ['--explain-cache'],
    ['--memory', '512m'],
    ['--cpus', '1'],
    ['--pids-limit', '10'],
    ['-f', '-'],
  ])('refuses a build with %s', async (...extra) => {
    const { flags, context } = await flagsOf([...extra, '/ctx']);
    expect(memoEligible(flags, context, '/ctx')).toBe(false);
  });

  it('refuses stdin, URL, git and tar contexts', async () => {
    for (const [spec, dir] of [['-', '/tmp/x'], ['https://h/c.tar.gz', '/tmp/x'], ['git@h:r.git', '/tmp/x'], ['/ctx.tar', '/tmp/unpacked']] as const) {
      const { flags } = await flagsOf([spec]);
      expect(memoEligible(flags, spec, dir), spec).toBe(false);
    }
  });
});

describe('BuildMemoRecorder', () => {
  const step = (n: number, name: string) => ({ id: n, name, stage: 'stage-0' });
  it('keeps what a rebuild served by the cache shows: steps CACHED in 0 s, no output, layers or transfers', async () => {
    const events: ProgressEvent[] = [
      { type: 'info', message: 'isolation: rootless', time: 5 },
      { type: 'step-start', step: step(1, '[stage-0 1/2] FROM base'), time: 6 },
      { type: 'transfer', id: 'pull:x', label: 'pull x', current: 10, total: 10, done: true, time: 7 },
      { type: 'step-end', step: step(1, '[stage-0 1/2] FROM base'), time: 8, durationMs: 2, cached: false },
      { type: 'step-start', step: step(2, '[stage-0 2/2] RUN make'), time: 9 },
      { type: 'step-log', step: step(2, '[stage-0 2/2] RUN make'), stream: 'stdout', data: Buffer.from('hi'), time: 10 },
      { type: 'layer', step: step(2, '[stage-0 2/2] RUN make'), digest: 'sha256:a', diffID: 'sha256:b', size: 1, time: 11 },
      { type: 'step-end', step: step(2, '[stage-0 2/2] RUN make'), time: 12, durationMs: 3000, cached: false, cacheReason: 'no earlier build of this step' },
      { type: 'warning', message: 'Dockerfile:1: a warning', time: 13 },
    ];
    const store = await makeTempDir('tsbuild-memo-unit');
    const ctx = await makeTempDir('tsbuild-memo-unit-ctx');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM base\nRUN make\n');
    const memo = { ...id, argv: ['--root', store, ctx] };
    const recorder = new BuildMemoRecorder(memo);
    for (const e of events) recorder.emit(e);
    await recorder.save({
      storeRoot: store, mode: 'plain', contextDir: ctx, dockerfilePath: join(ctx, 'Dockerfile'),
      result: { manifest: { digest: 'sha256:m' }, config: { digest: 'sha256:c' }, tags: ['docker.io/library/app:1'], stable: true }, cacheEntries: [], stdout: 'sha256:c\n',
    });
    const [file] = await readdir(join(store, 'cache', 'memo'));
    const record = JSON.parse(await readFile(join(store, 'cache', 'memo', file as string), 'utf8')) as { events: ProgressEvent[]; images: Record<string, string> };
    expect(record.events.map((e) => [e.type, e.type === 'step-end' ? [e.cached, e.durationMs, e.cacheReason] : undefined])).toEqual([
      ['info', undefined],
      ['step-start', undefined],
      ['step-end', [false, 0, undefined]],
      ['step-start', undefined],
      ['step-end', [true, 0, undefined]],
      ['warning', undefined],
    ]);
    expect(record.images).toEqual({ 'docker.io/library/app:1': 'sha256:m' });
  });

  it('keeps no record when the image would change anyway, or a base is also the output tag', async () => {
    const store = await makeTempDir('tsbuild-memo-unit');
    const save = async (r: BuildMemoRecorder, stable: boolean) =>
      r.save({ storeRoot: store, mode: 'quiet', contextDir: '/c', dockerfilePath: '/c/Dockerfile', result: { manifest: { digest: 'sha256:m' }, config: { digest: 'sha256:c' }, tags: ['docker.io/library/app:1'], stable }, cacheEntries: [], stdout: '' });
    const memo = { ...id, argv: ['--root', store, '/c'] };
    await save(new BuildMemoRecorder(memo), false);
    const own = new BuildMemoRecorder(memo);
    own.storeImage('docker.io/library/app:1', 'sha256:old');
    await save(own, true);
    expect(await readdir(join(store, 'cache', 'memo')).catch(() => [])).toEqual([]);
    await save(new BuildMemoRecorder(memo), true);
    expect(await readdir(join(store, 'cache', 'memo'))).toHaveLength(1);
  });
});

describe('dropOldRecords', () => {
  it('keeps the newest 64', async () => {
    const dir = await makeTempDir('tsbuild-memo-records');
    for (let i = 0; i < 70; i++) {
      const f = join(dir, `${String(i).padStart(3, '0')}.json`);
      await writeFile(f, '{}');
      await utimes(f, 1_000_000 + i, 1_000_000 + i);
    }
    dropOldRecords(dir);
    const left = (await readdir(dir)).sort();
    expect(left).toHaveLength(64);
    expect(left[0]).toBe('006.json');
  });
});
