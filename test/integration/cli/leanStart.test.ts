/**
 * `tsbuild build` starts without oclif's Config (cli/leanBuild.ts): the same parse, the same
 * errors, help still from oclif, and a build that really skips the `@oclif/core` index, in the
 * first process and in the namespace re-exec; bin/run.js runs the esbuild bundle (package.json "bundle").
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { execCommand } from '../../helpers/exec.js';
import { runTsbuild, tsbuildBin } from '../../helpers/tsbuild.js';

let base: BusyboxLayout;
beforeAll(async () => {
  base = await busyboxLayout();
}, 120_000);

/** A --require preload that appends, per process, whether oclif's index or Config was loaded. */
async function oclifTrap(): Promise<{ env: Record<string, string>; report: () => Promise<string[]> }> {
  const dir = await makeTempDir('tsbuild-lean-trap');
  const log = join(dir, 'loaded.log');
  await writeFile(log, '');
  await writeFile(
    join(dir, 'trap.cjs'),
    `process.on('exit', () => {
  const keys = Object.keys(require('node:module')._cache);
  const hit = keys.filter((k) => /@oclif[\\\\/]core[\\\\/]lib[\\\\/](index|config[\\\\/]config)\\.js$/.test(k));
  require('node:fs').appendFileSync(${JSON.stringify(log)}, (hit.length ? hit.join(' ') : 'none') + '\\n');
});\n`,
  );
  return {
    env: { NODE_OPTIONS: `--require ${join(dir, 'trap.cjs')}` },
    report: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean),
  };
}

describe('lean start-up of tsbuild build', () => {
  it('builds (TSBUILD_ROOT, default command, namespace re-exec) without loading oclif, then rebuilds from the cache', async () => {
    const ctx = await makeTempDir('tsbuild-lean-ctx');
    const store = await makeTempDir('tsbuild-lean-store');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY a.txt /a.txt\n');
    await writeFile(join(ctx, 'a.txt'), 'a\n');
    const trap = await oclifTrap();
    const args = ['-t', 'lean:1', '--progress', 'plain', '--build-context', `busybox=oci-layout://${base.dir}:latest`, ctx];
    const first = await runTsbuild(args, { env: { ...trap.env, TSBUILD_ROOT: store }, via: 'run.js' });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    // The store named by TSBUILD_ROOT holds the tag.
    expect(await readFile(join(store, 'images.json'), 'utf8')).toContain('docker.io/library/lean:1');
    const again = await runTsbuild(args, { env: { ...trap.env, TSBUILD_ROOT: store }, via: 'run.js' });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(again.stderr).toMatch(/CACHED/);
    // The first build missed the cache on COPY, so it ran twice (outside, then re-executed inside).
    const loaded = await trap.report();
    expect(loaded.length).toBeGreaterThanOrEqual(3);
    expect(loaded.every((l) => l === 'none'), loaded.join('\n')).toBe(true);
  });

  it('keeps oclif parse errors, their exit code and the flag suggestion', async () => {
    const typo = await runTsbuild(['-t', 'x', '--no-tls-verfy', '.']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe('error: Nonexistent flag: --no-tls-verfy\nhint: did you mean --no-tls-verify? (see tsbuild --help)\n');
    const option = await runTsbuild(['build', '--progress', 'bogus', '.']);
    expect(option.code).toBe(2);
    expect(option.stderr).toBe('error: Expected --progress=bogus to be one of: auto, tty, plain, json, quiet\nhint: see tsbuild --help\n');
    const fromEnv = await runTsbuild(['build', '.'], { env: { TSBUILD_ISOLATION: 'bogus' } });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toBe('error: Expected --isolation=bogus to be one of: auto, rootless, chroot, proot, none\nhint: see tsbuild --help\n');
    const extra = await runTsbuild(['build', 'a', 'b']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toBe('error: Unexpected argument: b\nhint: see tsbuild --help\n');
  });

  it('leaves --help to oclif, also after other build flags and for the default command', async () => {
    for (const argv of [['build', '-t', 'x', '--help'], ['-t', 'x', '.', '--help']]) {
      const res = await runTsbuild(argv);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('$ tsbuild build [CONTEXT]');
      expect(res.stdout).toContain('INPUT FLAGS');
    }
  });

  it('runs from the bundle: TSBUILD_DEBUG stacks name src/ lines, and other commands share its error classes', async () => {
    const debug = await runTsbuild(['build', '/nonexistent-tsbuild-ctx'], { env: { TSBUILD_DEBUG: '1' } });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^error: reading Dockerfile \/nonexistent-tsbuild-ctx\/Dockerfile: no such file$/m);
    expect(debug.stderr).toMatch(/at .*src\/context\/readDockerfile\.ts:\d+:\d+\)$/m);
    // oclif loads the commands from the bundle too: a TsbuildError of `tag` is an expected failure, not a bug.
    const store = await makeTempDir('tsbuild-lean-tag');
    const tag = await runTsbuild(['tag', 'nonexistent-lean:1', 'other:1', '--root', store]);
    expect(tag.code).toBe(1);
    expect(tag.stderr).toMatch(/^error: tagging nonexistent-lean:1: no such image in the local store\n/);
    expect(tag.stderr).not.toContain('internal error');
  });

  it('says to build it, in one message, where the bundle is missing', async () => {
    const checkout = await makeTempDir('tsbuild-lean-unbuilt');
    await mkdir(join(checkout, 'bin'));
    await copyFile(tsbuildBin(), join(checkout, 'bin', 'run.js'));
    const res = await execCommand(process.execPath, [join(checkout, 'bin', 'run.js'), '-t', 'x', '.']);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      `error: tsbuild is not built or not installed: Cannot find module '${checkout}/dist/bundle/main.js' imported from ${checkout}/bin/run.js\n` +
        'hint: run npm ci (it builds dist/ and native/), or npm run build\n',
    );
  });
});
