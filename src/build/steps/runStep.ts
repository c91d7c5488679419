/** RUN: the command in the sandbox on an overlay of the stage's layers; the upper dir is the layer. */
import { lstat, readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunInstruction } from '../../dockerfile/instructions.js';
import { TsbuildError } from '../../errors.js';
import type { ActiveSnapshot } from '../../snapshot/snapshotter.js';
import { runEnvironment } from '../imageConfig.js';
import type { StepHandler } from '../stepContext.js';
import { commitStep } from './commitStep.js';
import { commandArgv } from './metadataSteps.js';

export const runStep: StepHandler<RunInstruction> = {
  async execute(instr, state, ctx) {
    const { services, signal, step } = ctx;
    const argv = commandArgv(instr.command, state.config.config?.Shell);
    const active = await services.snapshots.prepare(state.layers.map((l) => l.diffID));
    try {
      const result = await services.runtime.run(
        {
          rootfs: { lowerdirs: active.lowerdirs, upperdir: active.upperdir, workdir: active.workdir, userxattr: services.xattrFlavor === 'user' },
          mountpoint: active.mountpoint,
          emptyLowerdir: active.emptyLowerdir,
          argv,
          env: runEnvironment(state.config, state.args),
          cwd: state.config.config?.WorkingDir || '/',
          user: state.config.config?.User ?? '',
          hostname: 'tsbuild',
          network: 'host',
          etcHosts: '/etc/hosts',
          resolvConf: '/etc/resolv.conf',
        },
        {
          onStdout: (data) => services.progress.emit({ type: 'step-log', step, stream: 'stdout', data, time: Date.now() }),
          onStderr: (data) => services.progress.emit({ type: 'step-log', step, stream: 'stderr', data, time: Date.now() }),
        },
        signal,
      );
      if (result.exitCode !== 0 || result.signal) {
        const how = result.signal ? `killed by signal ${result.signal}` : `exit code: ${result.exitCode}`;
        throw new TsbuildError('RUN_FAILED', `process ${JSON.stringify(argv.join(' '))} did not complete successfully: ${how}`, {
          hint: exitHint(result.exitCode),
        });
      }
      await removeMountStubs(active);
      const layer = await services.snapshots.commit(active, { sourceDateEpoch: services.sourceDateEpoch, signal });
      return commitStep(state, ctx, layer, `RUN ${argv.join(' ')}`);
    } catch (err) {
      await services.snapshots.abort(active).catch(() => undefined);
      throw err;
    }
  },
};

function exitHint(code: number): string | undefined {
  if (code === 127) return 'the command was not found in the image: check PATH and that the base image has it';
  if (code === 126) return 'the command exists but is not executable: check its mode';
  return undefined;
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
