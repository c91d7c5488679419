/** COPY and ADD (local sources): files from the context or another stage into a new layer. */
import { posix } from 'node:path';
import type { CopyInstruction } from '../../dockerfile/instructions.js';
import { expandInstruction } from '../../dockerfile/expand.js';
import { unsupportedReason } from '../../dockerfile/unsupported.js';
import { TsbuildError } from '../../errors.js';
import { withReadonlyRootfs, withWritableRootfs } from '../rootfs.js';
import { expansionEnv, type StageState } from '../stageState.js';
import type { ImageRootfs, StepContext, StepHandler } from '../stepContext.js';
import { copyFiles } from './copyFiles.js';
import { commitStep } from './commitStep.js';
import { parseChmod, resolveOwner } from './resolveOwner.js';

/** Docker: a relative dest is under WORKDIR; `.` and a trailing `/` mean "into this directory". */
export function destinationPath(dest: string, workdir: string | undefined): string {
  const wantsDir = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = posix.isAbsolute(dest) ? posix.normalize(dest) : posix.join(workdir || '/', dest);
  return wantsDir && !abs.endsWith('/') ? `${abs}/` : abs;
}

export const copyStep: StepHandler<CopyInstruction> = {
  async execute(instr, state, ctx) {
    const expanded = expandInstruction(instr, expansionEnv(state));
    // A URL can hide behind a variable (`ADD $URL /x`): check again after expansion.
    const reason = unsupportedReason(expanded);
    if (reason) throw new TsbuildError('DOCKERFILE_UNSUPPORTED', reason);
    const dest = destinationPath(expanded.dest, state.config.config?.WorkingDir);
    const chmod = expanded.chmod !== undefined ? parseChmod(expanded.chmod) : undefined;
    const copyInto = (srcRoot: string, srcName: string) =>
      withWritableRootfs(ctx.services, state.layers, ctx.signal, async (root) => {
        const owner = expanded.chown !== undefined ? await resolveOwner(expanded.chown, root) : undefined;
        await copyFiles({
          srcRoot,
          srcName,
          sources: expanded.sources,
          destRoot: root,
          dest,
          ...(owner ? { owner } : {}),
          ...(chmod !== undefined ? { chmod } : {}),
          extractArchives: instr.kind === 'ADD',
          signal: ctx.signal,
        });
      });
    let layer;
    if (expanded.from === undefined) {
      layer = await copyInto(ctx.services.contextDir, 'build context');
    } else {
      const source = await copySource(instr, expanded.from, ctx);
      layer = await withReadonlyRootfs(ctx.services, source.rootfs.layers, (srcRoot) => copyInto(srcRoot, source.name));
    }
    return commitStep(state, ctx, layer, instr.original);
  },
};

async function copySource(instr: CopyInstruction, from: string, ctx: StepContext): Promise<{ name: string; rootfs: ImageRootfs }> {
  // The graph resolved each COPY --from once (stage, named context or image); find this one.
  const dep = ctx.stage.copyFrom.find((c) => ctx.stage.ast.instructions[c.instructionIndex] === instr);
  switch (dep?.kind) {
    case 'stage':
      return { name: `stage ${from}`, rootfs: await ctx.services.stageResult(dep.index) };
    case 'context':
      return { name: `build context ${dep.name}`, rootfs: await ctx.services.namedContext(dep.name, ctx.signal) };
    case 'image':
      return { name: `image ${dep.ref}`, rootfs: await ctx.services.image(dep.ref, ctx.signal) };
    default:
      return { name: `image ${from}`, rootfs: await ctx.services.image(from, ctx.signal) };
  }
}
