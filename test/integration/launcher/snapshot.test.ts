/**
 * Issue 8: bin/tsbuild starts a build from tsbuild's V8 start-up snapshot (native/snapshot.mjs)
 * when the blob was made by the node on PATH, and from bin/run.js otherwise (another node
 * binary, NODE_OPTIONS, TSBUILD_DEBUG=1, bake). Watched as a user would: which node command
 * line ran (`strace -f -e trace=execve`), and what the build printed and produced. A build from
 * the snapshot must be the same build: same image digest, same messages and exit codes for bad
 * input as bin/run.js.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { execChecked, execCommand, type ExecResult } from '../../helpers/exec.js';
import { manifestDigest } from '../../helpers/ociLayout.js';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';
import { STRACE_EXECS, nodeStarts } from './execTrace.js';

const isRoot = process.getuid?.() === 0;
const EPOCH = '1700000000';
const BLOB = join(repoRoot(), 'native', 'build', 'tsbuild.blob');

/** Runs `launcher ARGS` under strace; the result and the node command lines it ran. */
async function traced(launcher: string, args: string[], env: Record<string, string> = {}): Promise<{ res: ExecResult; nodes: string[][] }> {
  const traceFile = join(await makeTempDir('tsbuild-snap-trace'), 'trace');
  const [strace, ...straceArgs] = STRACE_EXECS as [string, ...string[]];
  const res = await execCommand(strace, [...straceArgs, traceFile, launcher, ...args], {
    cwd: repoRoot(),
    env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH, ...env },
  });
  return { res, nodes: nodeStarts(await readFile(traceFile, 'utf8')).map((e) => e.argv) };
}

const fromSnapshot = (nodes: string[][]): boolean => nodes.length > 0 && nodes.every((argv) => argv.includes('--snapshot-blob'));
const fromRunJs = (nodes: string[][]): boolean => nodes.length > 0 && nodes.every((argv) => !argv.includes('--snapshot-blob') && argv.some((a) => a.endsWith('/bin/run.js')));

/**
 * An installation of tsbuild beside the repository's: its own bin/tsbuild and blob stamp, the
 * rest linked. `stamp` is what the blob says of the node that made it.
 */
async function installationWithStamp(stamp: string): Promise<string> {
  const dir = await makeTempDir('tsbuild-snap-install');
  await mkdir(join(dir, 'bin'));
  await mkdir(join(dir, 'native', 'build'), { recursive: true });
  await execChecked('cp', [join(repoRoot(), 'bin', 'tsbuild'), join(dir, 'bin', 'tsbuild')]);
  await symlink(join(repoRoot(), 'bin', 'run.js'), join(dir, 'bin', 'run.js'));
  for (const f of ['tsbuild-helper', 'fsx.node', 'tsbuild.blob']) await symlink(join(repoRoot(), 'native', 'build', f), join(dir, 'native', 'build', f));
  await writeFile(join(dir, 'native', 'build', 'tsbuild.blob.node'), stamp);
  await execChecked('chmod', ['-R', 'a+rX', dir]);
  return join(dir, 'bin', 'tsbuild');
}

describe.skipIf(!isRoot)('bin/tsbuild and the start-up snapshot', () => {
  let base: BusyboxLayout;
  let ctx: string;
  /** The image of the build through `node bin/run.js`. */
  let reference: string;

  beforeAll(async () => {
    base = await busyboxLayout();
    ctx = await makeTempDir('tsbuild-snap-ctx');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM base\nRUN echo built > /built\nCOPY f /f\nCMD ["/bin/sh"]\n');
    await writeFile(join(ctx, 'f'), 'from the context\n');
    const { store, out } = await outDir();
    const res = await runTsbuild(buildArgs(store, out), { env: { SOURCE_DATE_EPOCH: EPOCH }, via: 'run.js' });
    expect(res.code, res.stderr).toBe(0);
    reference = await manifestDigest(out);
  }, 120_000);

  function buildArgs(store: string, out: string, extra: string[] = []): string[] {
    return ['build', '--progress', 'plain', '--root', store, ...extra, '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, '-t', 'app:1', '-o', `type=oci,dest=${out},tar=false`, ctx];
  }

  async function outDir(): Promise<{ store: string; out: string }> {
    return { store: await makeTempDir('tsbuild-snap-store'), out: join(await makeTempDir('tsbuild-snap-out'), 'layout') };
  }

  it('the build runs from the snapshot, once, and gives the image bin/run.js gives; the rebuild too', async () => {
    const { store, out } = await outDir();
    const cold = await traced(join(repoRoot(), 'bin', 'tsbuild'), buildArgs(store, out));
    expect(cold.res.code, cold.res.stderr).toBe(0);
    expect(cold.nodes).toHaveLength(1);
    const blobArg = cold.nodes[0]?.[(cold.nodes[0]?.indexOf('--snapshot-blob') ?? -2) + 1];
    expect(blobArg && resolve(blobArg)).toBe(BLOB);
    expect(cold.res.stderr).toContain('isolation: rootless (auto: namespaces and overlay work here)');
    expect(await manifestDigest(out)).toBe(reference);

    // The default command (no `build` word) and a cached rebuild.
    const again = await traced(join(repoRoot(), 'bin', 'tsbuild'), buildArgs(store, out).slice(1));
    expect(again.res.code, again.res.stderr).toBe(0);
    expect(fromSnapshot(again.nodes)).toBe(true);
    expect(again.res.stderr).toMatch(/CACHED/);
    expect(await manifestDigest(out)).toBe(reference);
  });

  it('bad input: the same message and exit code from the snapshot as from bin/run.js', async () => {
    const bad = await makeTempDir('tsbuild-snap-bad');
    await writeFile(join(bad, 'Dockerfile'), 'FROM base\nRUN echo a\nCOPY --chmod=999 f /f\nFROMM x\n');
    await writeFile(join(bad, 'f'), 'f\n');
    const store = await makeTempDir('tsbuild-snap-store');
    const cases: string[][] = [
      // a Dockerfile error with its line, a flag error with a suggestion, a flag value error
      ['build', '--root', store, '--build-context', `base=oci-layout://${base.dir}:${base.tag}`, bad],
      ['build', '--root', store, '--tagg', 'x', bad],
      ['--root', store, '--jobs', '0', bad],
      // --check prints the problems and builds nothing
      ['build', '--check', bad],
    ];
    for (const args of cases) {
      const viaSnapshot = await traced(join(repoRoot(), 'bin', 'tsbuild'), args);
      expect(fromSnapshot(viaSnapshot.nodes), args.join(' ')).toBe(true);
      const viaRunJs = await runTsbuild(args, { via: 'run.js' });
      expect(viaRunJs.code, args.join(' ')).not.toBe(0);
      // plain progress stamps each line with the time of day
      const untimed = (text: string) => text.replace(/^\d\d:\d\d:\d\d\.\d{3} /gm, '');
      expect({ code: viaSnapshot.res.code, stderr: untimed(viaSnapshot.res.stderr), stdout: viaSnapshot.res.stdout }).toEqual({
        code: viaRunJs.code,
        stderr: untimed(viaRunJs.stderr),
        stdout: viaRunJs.stdout,
      });
      expect(viaSnapshot.res.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('another node binary (the stamp differs), NODE_OPTIONS or TSBUILD_DEBUG=1: the launcher runs bin/run.js and the build is the same', async () => {
    // The same installation with the right stamp takes the snapshot: the set-up itself is sound.
    const right = (await readFile(`${BLOB}.node`, 'utf8')).trim();
    expect(right).toMatch(/^\d+:\d+:\d+:\d+$/);
    const good = await installationWithStamp(`${right}\n`);
    const stale = await installationWithStamp('1:2:3:4\n');
    const runs: Array<[string, Record<string, string>, (n: string[][]) => boolean]> = [
      [good, {}, fromSnapshot],
      [stale, {}, fromRunJs],
      [join(repoRoot(), 'bin', 'tsbuild'), { NODE_OPTIONS: '--max-old-space-size=2048' }, fromRunJs],
      [join(repoRoot(), 'bin', 'tsbuild'), { TSBUILD_DEBUG: '1' }, fromRunJs],
    ];
    for (const [launcher, env, expected] of runs) {
      const { store, out } = await outDir();
      const { res, nodes } = await traced(launcher, buildArgs(store, out), env);
      const what = `${launcher} ${JSON.stringify(env)}`;
      expect(res.code, `${what}: ${res.stderr}`).toBe(0);
      expect(expected(nodes), `${what}: ${JSON.stringify(nodes)}`).toBe(true);
      expect(await manifestDigest(out), what).toBe(reference);
    }
  });

  it('started from the snapshot with anything but a build (bake, build --help), it hands over to bin/run.js', async () => {
    for (const args of [['bake', '--help'], ['build', '--help']]) {
      const direct = await execCommand(process.execPath, ['--snapshot-blob', BLOB, ...args], { cwd: repoRoot() });
      const viaRunJs = await runTsbuild(args, { via: 'run.js' });
      expect(viaRunJs.code, args.join(' ')).toBe(0);
      expect(viaRunJs.stdout).toContain('USAGE');
      expect({ code: direct.code, stdout: direct.stdout, stderr: direct.stderr }).toEqual({ code: viaRunJs.code, stdout: viaRunJs.stdout, stderr: viaRunJs.stderr });
    }
  });

  it('bake is not started from the snapshot', async () => {
    const compose = join(repoRoot(), 'examples', 'compose', 'compose.yaml');
    const store = await makeTempDir('tsbuild-snap-store');
    const { res, nodes } = await traced(join(repoRoot(), 'bin', 'tsbuild'), ['bake', '-f', compose, '--root', store, '--progress', 'plain', 'db'], { BASE_LAYOUT: base.dir });
    expect(res.code, res.stderr).toBe(0);
    expect(nodes.length).toBeGreaterThan(0);
    expect(nodes.some((argv) => argv.includes('--snapshot-blob'))).toBe(false);
  });
});
