/** WORKDIR: sets the working directory and, as BuildKit does, creates it if it is missing. */
import { lstat, mkdir } from 'node:fs/promises';
import { posix } from 'node:path';
import type { WorkdirInstruction } from '../../dockerfile/instructions.js';
import { expandInstruction } from '../../dockerfile/expand.js';
import { resolveInRoot } from '../../util/scopedPath.js';
import { withContainerConfig } from '../imageConfig.js';
import { withWritableRootfs } from '../rootfs.js';
import { expansionEnv } from '../stageState.js';
import type { StepHandler } from '../stepContext.js';
import { commitStep } from './commitStep.js';

export const workdirStep: StepHandler<WorkdirInstruction> = {
  async execute(instr, state, ctx) {
    const { path } = expandInstruction(instr, expansionEnv(state));
    const workdir = posix.isAbsolute(path) ? posix.normalize(path) : posix.join(state.config.config?.WorkingDir || '/', path);
    const next = { ...state, config: withContainerConfig(state.config, { WorkingDir: workdir }) };
    const layer = await withWritableRootfs(ctx.services, state.layers, ctx.signal, async (root) => {
      let current = '/';
      for (const part of workdir.split('/').filter(Boolean)) {
        current = posix.join(current, part);
        const host = await resolveInRoot(root, current);
        if (await lstat(host).catch(() => undefined)) continue;
        await mkdir(host, { mode: 0o755 });
        await ctx.services.owners.chown(host, 0, 0, { created: true });
      }
    });
    return commitStep(next, ctx, layer, `WORKDIR ${workdir}`);
  },
};
