import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleIsolation, compileHelper, makeBusyboxRootfs, repoRoot } from './fixtures.js';

const exec = promisify(execFile);
const USER = 'tsb-iso-test';
const SCENARIO = join(repoRoot, 'test', 'integration', 'isolation', 'scenario.mjs');
const isRoot = process.getuid?.() === 0;

let base: string;
let helper: string;
let bundle: string;
let lower: string;
let userIds: { uid: number; gid: number };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCollect(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ensureUser(): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({
    uid: Number((await exec('id', ['-u', USER])).stdout.trim()),
    gid: Number((await exec('id', ['-g', USER])).stdout.trim()),
  });
  try {
    await ids();
  } catch {
    await exec('useradd', ['-m', USER]);
  }
  const subuid = await readFile('/etc/subuid', 'utf8').catch(() => '');
  const subgid = await readFile('/etc/subgid', 'utf8').catch(() => '');
  const args: string[] = [];
  if (!new RegExp(`^${USER}:300000:65536$`, 'm').test(subuid)) args.push('--add-subuids', '300000-365535');
  if (!new RegExp(`^${USER}:300000:65536$`, 'm').test(subgid)) args.push('--add-subgids', '300000-365535');
  if (args.length > 0) await exec('usermod', [...args, USER]);
  return ids();
}

/** A work dir the scenario's user owns. */
async function workDir(name: string, owner?: { uid: number; gid: number }): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir);
  if (owner) await chown(dir, owner.uid, owner.gid);
  return dir;
}

async function scenario(work: string, asUser: boolean, variant = ''): Promise<{ run: Run; results: Record<string, unknown> }> {
  const args = [SCENARIO, 'outer', bundle, helper, lower, work, variant];
  const run = asUser
    ? await spawnCollect('runuser', ['-u', USER, '--', process.execPath, ...args])
    : await spawnCollect(process.execPath, args);
  const last = run.stdout.trim().split('\n').pop() ?? '';
  let results: Record<string, unknown>;
  try {
    results = JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`scenario failed (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
  return { run, results };
}

describe.skipIf(!isRoot)('entering the build namespace', () => {
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'tsb-iso-enter-'));
    await chmod(base, 0o755);
    [helper, bundle, userIds] = await Promise.all([
      compileHelper(base),
      bundleIsolation(base),
      ensureUser(),
    ]);
    lower = join(base, 'lower');
    await makeBusyboxRootfs(lower);
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('as root: a mount namespace only, RUN and overlay mounts inside it', async () => {
    const { run, results } = await scenario(await workDir('root'), false);
    expect(run.code).toBe(0);
    expect(results).toMatchObject({
      inNamespace: true,
      uid: 0,
      uidMap: ['0 0 4294967295'],
      overlayUserxattr: false,
      exit: 7,
      chown: { exitCode: 0, stdout: '1000:1000\n' },
      upperOwner: '1000:1000',
      idAsUser: '1000\n',
      mergedSeesLower: true,
      mergedAfterUnmount: [],
      copiedInUpper: 'copied\n',
      viewWrite: 'EROFS',
      stackSees: ['copied\n', true],
    });
    expect(results['badMount']).toMatchObject({ code: 'ISOLATION_SETUP' });
    expect((results['badMount'] as { message: string }).message).toMatch(/^mounting overlay on .*: .*No such file or directory/);
  });

  it('as an unprivileged user with subordinate ids: chown to container ids works', async () => {
    const { run, results } = await scenario(await workDir('user', userIds), true);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toContain('warning');
    const uidMap = results['uidMap'] as string[];
    expect(uidMap[0]).toBe(`0 ${userIds.uid} 1`);
    expect(uidMap.some((l) => / 300000 65536$/.test(l))).toBe(true);
    expect(results).toMatchObject({
      inNamespace: true,
      uid: 0,
      overlayUserxattr: true,
      exit: 7,
      chown: { exitCode: 0, stdout: '1000:1000\n' },
      // seen from inside the namespace, the upper dir holds container ids
      upperOwner: '1000:1000',
      idAsUser: '1000\n',
      mergedSeesLower: true,
      mergedAfterUnmount: [],
      copiedInUpper: 'copied\n',
      viewWrite: 'EROFS',
      stackSees: ['copied\n', true],
    });
  });

  it('as an unprivileged user without subordinate ids: one id, a warning, and a clear error for other ids', async () => {
    const { run, results } = await scenario(await workDir('single', userIds), true, 'single');
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(
      `tsbuild: warning: no /etc/subuid range for ${USER}; only one uid is mapped, chown to other ids will fail. ` +
        `Add one with: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${USER}`,
    );
    expect(results['uidMap']).toEqual([`0 ${userIds.uid} 1`]);
    expect(results['exit']).toBe(7);
    expect((results['chown'] as { exitCode: number }).exitCode).not.toBe(0);
    expect(results['idAsUser']).toMatchObject({
      code: 'ISOLATION_SETUP',
      message: expect.stringMatching(/^setting up the RUN sandbox: setgid: switching to gid 1000/),
    });
    expect(results['copiedInUpper']).toBe('copied\n');
  });

  it("passes the command's exit code and signals through enter", async () => {
    const exit = await spawnCollect(helper, ['enter', '--', '/bin/sh', '-c', 'echo $TSBUILD_IN_NAMESPACE; exit 42']);
    expect(exit).toMatchObject({ code: 42, stdout: '1\n' });
    const killed = await spawnCollect(helper, ['enter', '--', '/bin/sh', '-c', 'kill -TERM $$']);
    expect(killed.code).toBe(128 + 15);
    const missing = await spawnCollect(helper, ['enter', '--', '/no/such/program']);
    expect(missing.code).toBe(127);
  });

  it('forwards SIGTERM to the command', async () => {
    const child = spawn(helper, ['enter', '--', '/bin/sh', '-c', 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('ready')) resolve();
      }),
    );
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(out).toContain('got-term');
    expect(code).toBe(3);
  });
});
