/**
 * What the cache may see of a step before it runs (src/cache/stepInputs.ts decides what it
 * uses): the variables in scope and, for COPY --from, the layers of the filesystem it reads.
 */
import type { InputView } from '../cache/stepInputs.js';
import type { ResolvedStage } from '../graph/buildGraph.js';
import { expansionEnv, type StageState } from './stageState.js';
import type { BuildServices } from './stepContext.js';

export function stepCacheView(state: StageState, stage: ResolvedStage, services: BuildServices): Omit<InputView, 'hashContext'> {
  return {
    env: expansionEnv(state),
    args: state.args,
    buildArgs: services.buildArgs,
    globalArgs: services.globalArgs,
    async copySourceLayers(instr, from, signal) {
      // The graph resolved each COPY --from and RUN --mount from= once (stage, named context or image).
      const deps = stage.copyFrom.filter((c) => stage.ast.instructions[c.instructionIndex] === instr);
      const dep = deps.find((c) => c.from === from) ?? (instr.kind === 'RUN' ? undefined : deps[0]);
      let rootfs;
      switch (dep?.kind) {
        case 'stage':
          rootfs = await services.stageResult(dep.index);
          break;
        case 'context':
          rootfs = await services.namedContext(dep.name, signal);
          break;
        case 'image':
          rootfs = await services.image(dep.ref, signal);
          break;
        default:
          rootfs = await services.image(from, signal);
      }
      return rootfs.layers.map((l) => l.diffID);
    },
  };
}
