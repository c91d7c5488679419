/** RUN: the command in the sandbox on an overlay of the stage's layers; the upper dir is the layer. */
import { lstat, mkdtemp, readdir, rm, rmdir, unlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { expandWord } from '../../dockerfile/expand.js';
import type { RunInstruction } from '../../dockerfile/instructions.js';
import { TsbuildError } from '../../errors.js';
import { proxyBuildArgs } from '../../graph/platformArgs.js';
import { createRunCgroup } from '../../isolation/cgroups.js';
import type { SandboxMount } from '../../isolation/runtime.js';
import type { ActiveSnapshot } from '../../snapshot/snapshotter.js';
import { lgetxattrs } from '../../util/fsx.js';
import { envToMap, runEnvironment } from '../imageConfig.js';
import { heredocCommand } from '../mounts/heredocCommand.js';
import { parseMounts } from '../mounts/parseMount.js';
import { withRunMounts } from '../mounts/runMounts.js';
import { defaultRunOptions } from '../mounts/runOptions.js';
import type { StepHandler } from '../stepContext.js';
import { commitProgress, commitStep } from './commitStep.js';
import { commandArgv } from './metadataSteps.js';

export const runStep: StepHandler<RunInstruction> = {
  async execute(instr, state, ctx) {
    const { services, signal, step } = ctx;
    const options = services.run ?? defaultRunOptions;
    // Proxy build args reach RUN undeclared, as in BuildKit; they stay out of history.
    const env = runEnvironment(state.config, new Map([...proxyBuildArgs(services.buildArgs), ...state.args]));
    const network = runNetwork(instr.flags.network);
    if (instr.flags.security !== undefined && instr.flags.security !== 'sandbox') {
      if (instr.flags.security !== 'insecure') throw new TsbuildError('DOCKERFILE_SYNTAX', `invalid --security ${instr.flags.security}`, { hint: 'use sandbox or insecure' });
      if (!options.allowInsecure) {
        throw new TsbuildError('USAGE', 'RUN --security=insecure needs the security.insecure entitlement', { hint: 'pass --allow security.insecure to tsbuild build (the step then runs with every capability and no seccomp filter)' });
      }
    }
    const insecure = instr.flags.security === 'insecure';
    // BuildKit expands --mount values with the step's ARGs and ENV.
    const vars = envToMap(env);
    const mounts = parseMounts(instr.flags.mounts.map((m) => expandWord(m, vars)));

    const heredoc = heredocCommand(instr.command, instr.heredocs);
    const shell = state.config.config?.Shell;
    const argv = heredoc === undefined ? commandArgv(instr.command, shell) : heredoc.kind === 'file' ? [heredoc.path] : [...(shell ?? ['/bin/sh', '-c']), heredoc.script];
    const extra: SandboxMount[] = heredoc?.kind === 'file' ? [{ type: 'file', target: heredoc.path, content: Buffer.from(heredoc.content), mode: 0o755, uid: 0, gid: 0 }] : [];

    const active = await services.snapshots.prepare(state.layers.map((l) => l.diffID));
    let scratch: string | undefined;
    const cgroup = options.limits ? await createRunCgroup(options.limits) : undefined;
    try {
      scratch = await mkdtemp(join(services.tmpDir, 'run-scratch-'));
      const result = await withRunMounts(instr, mounts, ctx, async (prepared) => {
        const all = [...prepared.mounts, ...extra];
        const stubs = await missingPaths(active, all.map((m) => m.target));
        const res = await services.runtime.run(
          {
            rootfs: { lowerdirs: active.lowerdirs, upperdir: active.upperdir, workdir: active.workdir, userxattr: services.xattrFlavor === 'user' },
            mountpoint: active.mountpoint,
            emptyLowerdir: active.emptyLowerdir,
            argv,
            env: [...env.filter((e) => !prepared.env.some((p) => p.split('=')[0] === e.split('=')[0])), ...prepared.env],
            cwd: state.config.config?.WorkingDir || '/',
            user: state.config.config?.User ?? '',
            hostname: 'tsbuild',
            network,
            etcHosts: '/etc/hosts',
            resolvConf: '/etc/resolv.conf',
            mounts: all,
            ...(scratch ? { scratchDir: scratch } : {}),
            seccomp: options.seccomp && !insecure,
            noNewPrivileges: options.noNewPrivileges,
            capAdd: insecure ? Array.from({ length: 41 }, (_, i) => i) : [...options.capAdd],
            ...(cgroup ? { cgroupProcs: cgroup.procsFiles } : {}),
          },
          {
            onStdout: (data) => services.progress.emit({ type: 'step-log', step, stream: 'stdout', data, time: Date.now() }),
            onStderr: (data) => services.progress.emit({ type: 'step-log', step, stream: 'stderr', data, time: Date.now() }),
          },
          signal,
        );
        await removeStubs(active, stubs);
        await dropUntouchedCopyUps(active, all.map((m) => m.target), stubs);
        return res;
      });
      if (result.exitCode !== 0 || result.signal) {
        const how = result.signal ? `killed by signal ${result.signal}` : `exit code: ${result.exitCode}`;
        throw new TsbuildError('RUN_FAILED', `process ${JSON.stringify(argv.join(' '))} did not complete successfully: ${how}`, {
          hint: exitHint(result.exitCode),
        });
      }
      await removeMountStubs(active);
      const layer = await services.snapshots.commit(active, { sourceDateEpoch: services.sourceDateEpoch, signal, onProgress: commitProgress(ctx) });
      return commitStep(state, ctx, layer, `RUN ${argv.join(' ')}`);
    } catch (err) {
      await services.snapshots.abort(active).catch(() => undefined);
      throw err;
    } finally {
      if (scratch) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
      await cgroup?.remove();
    }
  },
};

/** `--network=default|none|host`; default is the host's network, as BuildKit's default. */
function runNetwork(value: string | undefined): 'host' | 'none' {
  if (value === undefined || value === 'default' || value === 'host') return 'host';
  if (value === 'none') return 'none';
  throw new TsbuildError('DOCKERFILE_SYNTAX', `unsupported network mode ${JSON.stringify(value)}`, { hint: 'use --network=default, none or host' });
}

function exitHint(code: number): string | undefined {
  if (code === 127) return 'the command was not found in the image: check PATH and that the base image has it';
  if (code === 126) return 'the command exists but is not executable: check its mode';
  return undefined;
}

async function inLowers(active: ActiveSnapshot, rel: string): Promise<boolean> {
  for (const d of [active.upperdir, ...active.lowerdirs]) {
    if (await lstat(join(d, rel)).then(() => true, () => false)) return true;
  }
  return false;
}

/**
 * The paths the helper will create as mount points (each missing component of each target,
 * under /dev excluded: that is a tmpfs), outermost first. Symlinked parents are not followed:
 * such a target is inside the image already and leaves nothing to clean.
 */
async function missingPaths(active: ActiveSnapshot, targets: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const target of targets) {
    const parts = posix.normalize(target).split('/').filter(Boolean);
    if (parts[0] === 'dev' || parts[0] === 'proc' || parts[0] === 'sys') continue;
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (out.includes(rel)) continue;
      if (!(await inLowers(active, rel))) out.push(rel);
    }
  }
  return out;
}

/**
 * Removes mount-point stubs the helper created (BuildKit's mount stub cleaner): empty dirs and
 * empty files only, deepest first, so anything the command put there stays.
 */
async function removeStubs(active: ActiveSnapshot, stubs: readonly string[]): Promise<void> {
  const byDepth = [...stubs].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const rel of byDepth) {
    const path = join(active.upperdir, rel);
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory()) {
      const entries = await readdir(path).catch(() => ['?']);
      if (entries.length === 0) await rmdir(path).catch(() => undefined);
    } else if (st.isFile() && st.size === 0) {
      await unlink(path).catch(() => undefined);
    }
  }
}

/**
 * Creating a mount point under an existing directory (/run/secrets under /run) copies that
 * directory up into the layer. When nothing else changed it (still empty in the upper dir, not
 * opaque, same owner and mode as below), drop the copy so the layer holds only the step's work.
 */
async function dropUntouchedCopyUps(active: ActiveSnapshot, targets: readonly string[], stubs: readonly string[]): Promise<void> {
  const ancestors = new Set<string>();
  for (const target of targets) {
    const parts = posix.normalize(target).split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (!stubs.includes(rel)) ancestors.add(rel);
    }
  }
  const deepestFirst = [...ancestors].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const rel of deepestFirst) {
    const upper = join(active.upperdir, rel);
    const st = await lstat(upper).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    if ((await readdir(upper).catch(() => ['?'])).length > 0) continue;
    const xattrs = await lgetxattrs(upper).catch(() => undefined);
    // origin/impure are overlay's own bookkeeping of a copy-up; opaque or redirect would mean
    // the step replaced the directory, which must stay.
    if (xattrs === undefined || xattrs.some(([name]) => /overlay\.(opaque|redirect)$/.test(name))) continue;
    let below;
    for (const d of active.lowerdirs) {
      below = await lstat(join(d, rel)).catch(() => undefined);
      if (below) break;
    }
    if (!below?.isDirectory() || below.mode !== st.mode || below.uid !== st.uid || below.gid !== st.gid) continue;
    await rmdir(upper).catch(() => undefined);
  }
}

/**
 * The sandbox creates /proc, /sys and /dev as mount points when the image lacks them; like
 * BuildKit's mount-stub cleaner, drop such empty stubs so they never become part of the layer.
 */
async function removeMountStubs(active: ActiveSnapshot): Promise<void> {
  for (const name of ['proc', 'sys', 'dev']) {
    const inLower = await Promise.all(active.lowerdirs.map((d) => lstat(join(d, name)).then(() => true, () => false)));
    if (inLower.some(Boolean)) continue;
    const stub = join(active.upperdir, name);
    const entries = await readdir(stub).catch(() => undefined);
    if (entries && entries.length === 0) await rmdir(stub).catch(() => undefined);
  }
}
