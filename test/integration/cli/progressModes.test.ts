/**
 * Every --progress mode on one multi-stage build, run as a user runs it: a spawned CLI, and for
 * tty a real terminal (util-linux `script` gives the child a pty).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { busyboxLayout, type BusyboxLayout } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { repoRoot, runTsbuild, tsbuildBin } from '../../helpers/tsbuild.js';
import { validate } from './validateSchema.js';

const DOCKERFILE = `FROM busybox AS build
RUN echo compiling; head -c 200000 /dev/zero > /out.bin; echo compiled
FROM busybox
COPY --from=build /out.bin /app/out.bin
RUN echo ready
`;

let base: BusyboxLayout;
beforeAll(async () => {
  base = await busyboxLayout();
}, 120_000);

async function project(dockerfile = DOCKERFILE): Promise<{ ctx: string; store: string; args: (extra: string[]) => string[] }> {
  const ctx = await makeTempDir('tsbuild-cli-ctx');
  const store = await makeTempDir('tsbuild-cli-store');
  await writeFile(join(ctx, 'Dockerfile'), dockerfile);
  return { ctx, store, args: (extra) => ['build', '--root', store, '-t', 'multi:1', '--build-context', `busybox=oci-layout://${base.dir}:latest`, ...extra, ctx] };
}

/** Runs the CLI under a pseudo-terminal; returns everything the terminal showed. */
async function inTerminal(args: string[], env: Record<string, string> = {}): Promise<{ code: number; screen: string }> {
  const cmd = [process.execPath, tsbuildBin(), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const res = await execCommand('script', ['-qfec', `stty cols 120; ${cmd}`, '/dev/null'], { cwd: repoRoot(), env: { ...process.env, TERM: 'xterm', ...env } });
  return { code: res.code, screen: res.stdout };
}

describe('--progress', () => {
  it('plain: timestamped, #N-prefixed lines for every step, then the summary', async () => {
    const p = await project();
    const res = await runTsbuild(p.args(['--progress', 'plain']));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const lines = res.stderr.split('\n');
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} #2 \[build 2\/2\] RUN echo compiling/));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} #2 \d+\.\d{3} compiled$/));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} #2 DONE \d+\.\ds/));
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} #5 \d+\.\d{3} ready$/));
    // No escape sequences in a log file.
    expect(res.stderr).not.toContain('\x1b[');
    // The summary: digest, layers with their step, the biggest file added, stage times, cache.
    expect(res.stderr).toMatch(/^image +sha256:[0-9a-f]{64} +\(docker\.io\/library\/multi:1\)$/m);
    expect(res.stderr).toMatch(/^id +sha256:[0-9a-f]{64}$/m);
    expect(res.stderr).toMatch(/^size .* in 2 layers \(1 built by this build\)$/m);
    expect(res.stderr).toMatch(/\(base\) /);
    expect(res.stderr).toMatch(/\[stage-1 2\/3\] COPY --from=build \/out\.bin \/app\/out\.bin/);
    expect(res.stderr).toMatch(/^biggest files added\n +200\.0kB +\/app\/out\.bin$/m);
    expect(res.stderr).toMatch(/^time +\d+\.\ds \(build \d+\.\ds, stage-1 \d+\.\ds\)$/m);
    expect(res.stderr).toMatch(/^cache +\d+ of 5 steps cached$/m);
  }, 60_000);

  it('json: one event per line, each valid against the documented schema, ending in the result', async () => {
    const schema = JSON.parse(await readFile(join(repoRoot(), 'src/cli/progress-events.schema.json'), 'utf8')) as Record<string, unknown>;
    const p = await project();
    const res = await runTsbuild(p.args(['--progress', 'json']));
    expect(res.code, res.stderr).toBe(0);
    const events = res.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) expect(validate(e, schema), JSON.stringify(e)).toEqual([]);
    const types = new Set(events.map((e) => e['type']));
    for (const t of ['step-start', 'step-end', 'step-log', 'transfer', 'layer', 'result']) expect(types, t).toContain(t);
    const logs = events.filter((e) => e['type'] === 'step-log').map((e) => (e['encoding'] === 'base64' ? Buffer.from(e['data'] as string, 'base64').toString() : e['data']));
    expect(logs.join('')).toContain('compiling\ncompiled\n');
    const ends = events.filter((e) => e['type'] === 'step-end');
    expect(ends).toHaveLength(5);
    for (const e of ends) expect(e['cache']).toBe(e['cached'] ? 'hit' : 'miss');
    const result = events.at(-1) as Record<string, unknown>;
    expect(result['type']).toBe('result');
    expect(result['imageId']).toBe(res.stdout.trim());
    expect(result['tags']).toEqual(['docker.io/library/multi:1']);
  }, 60_000);

  it('a big layer commit reports its bytes as transfer events (json) and one done line (plain)', async () => {
    const schema = JSON.parse(await readFile(join(repoRoot(), 'src/cli/progress-events.schema.json'), 'utf8')) as Record<string, unknown>;
    const p = await project('FROM busybox\nRUN dd if=/dev/zero of=/big bs=1048576 count=200 2>/dev/null\n');
    const res = await runTsbuild(p.args(['--progress', 'json']));
    expect(res.code, res.stderr).toBe(0);
    const events = res.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) expect(validate(e, schema), JSON.stringify(e)).toEqual([]);
    const commits = events.filter((e) => e['type'] === 'transfer' && e['id'] === 'commit:2');
    // 200 MiB passes the 64 MiB reporting step at least three times, then the closing event.
    expect(commits.length).toBeGreaterThanOrEqual(4);
    expect(commits[0]?.['label']).toBe('#2 committing layer');
    const sizes = commits.map((e) => e['current'] as number);
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b));
    const last = commits.at(-1) as Record<string, unknown>;
    expect(last['done']).toBe(true);
    expect(last['current']).toBeGreaterThan(200 * 1024 * 1024);
    expect(commits.slice(0, -1).every((e) => e['done'] === false)).toBe(true);
    // Before the step's layer and its end.
    const endAt = events.findIndex((e) => e['type'] === 'step-end' && (e['step'] as { id: number }).id === 2);
    expect(events.indexOf(last)).toBeLessThan(endAt);

    const plain = await runTsbuild([...p.args(['--progress', 'plain', '--no-cache'])]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/^\d\d:\d\d:\d\d\.\d{3} #2 committing layer 2\d\d\.\dMB done$/m);
  }, 90_000);

  it('quiet (-q and --progress quiet): only the image ID', async () => {
    const p = await project();
    for (const flag of [['-q'], ['--progress', 'quiet']]) {
      const res = await runTsbuild(p.args(flag));
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect(res.stderr).toBe('');
    }
  }, 60_000);

  it('TSBUILD_PROGRESS picks the mode when no flag does, and the config file when neither does', async () => {
    const p = await project();
    const viaEnv = await runTsbuild(p.args([]), { env: { TSBUILD_PROGRESS: 'json' } });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    // Every line is an event (the first may be the isolation notice, then the steps).
    const envEvents = viaEnv.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(envEvents.map((e) => e.type)).toContain('step-start');
    const cfgDir = await makeTempDir('tsbuild-cli-cfg');
    await mkdir(join(cfgDir, 'tsbuild'));
    await writeFile(join(cfgDir, 'tsbuild', 'config.yaml'), 'progress: quiet\njobs: 1\n');
    const viaConfig = await runTsbuild(p.args([]), { env: { XDG_CONFIG_HOME: cfgDir, TSBUILD_PROGRESS: '' } });
    expect(viaConfig.code, viaConfig.stderr).toBe(0);
    expect(viaConfig.stderr).toBe('');
    const flagWins = await runTsbuild(p.args(['--progress', 'plain']), { env: { XDG_CONFIG_HOME: cfgDir, TSBUILD_PROGRESS: 'json' } });
    expect(flagWins.stderr).toMatch(/#1 \[build 1\/2\] FROM/);
  }, 90_000);

  it('tty on a terminal (auto): live running steps with output, collapsed finished steps, colour unless NO_COLOR', async () => {
    const p = await project(DOCKERFILE.replace('echo compiling;', 'echo compiling; sleep 0.6;'));
    const res = await inTerminal(p.args([]));
    expect(res.code, res.screen).toBe(0);
    // A live line for the running RUN, redrawn in place (cursor up + erase) ...
    expect(res.screen).toMatch(/=> \[build 2\/2\] RUN echo compiling/);
    expect(res.screen).toContain('\x1b[J');
    expect(res.screen).toMatch(/│ compiling/);
    // ... collapsed to one ✓ line when done, in colour.
    expect(res.screen).toMatch(/\x1b\[32m✓\x1b\[0m \[build 2\/2\] RUN echo compiling/);
    expect(res.screen).toMatch(/cache +\d+ of 5 steps cached/);

    const plainColours = await inTerminal(p.args(['--no-cache']), { NO_COLOR: '1' });
    expect(plainColours.code, plainColours.screen).toBe(0);
    expect(plainColours.screen).toMatch(/✓ \[build 2\/2\] RUN echo compiling/);
    expect(plainColours.screen).not.toMatch(/\x1b\[\d+m/);
  }, 90_000);

  it('a failing RUN: its output and the Dockerfile line, in plain and on a terminal', async () => {
    const p = await project('FROM busybox\nRUN echo before\nRUN echo about to fail; echo on stderr >&2; exit 3\n');
    const plain = await runTsbuild(p.args(['--progress', 'plain']));
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/#3 \d+\.\d{3} about to fail/);
    expect(plain.stderr).toMatch(/#3 \d+\.\d{3} on stderr/);
    expect(plain.stderr).toMatch(/#3 ERROR: .*exit code: 3/);
    expect(plain.stderr).toMatch(/error: Dockerfile:3:1: RUN .*exit code: 3/);
    expect(plain.stderr).toContain('   3 | RUN echo about to fail; echo on stderr >&2; exit 3');
    expect(plain.stderr).not.toMatch(/^image /m);

    const tty = await inTerminal(p.args([]));
    expect(tty.code).toBe(1);
    expect(tty.screen).toMatch(/✗ \[stage-0 3\/3\] RUN echo about to fail/);
    expect(tty.screen).toMatch(/│ about to fail[^\n]*\n[^\n]*│ on stderr/);
    expect(tty.screen).toMatch(/error: Dockerfile:3:1: RUN/);
  }, 90_000);
});
