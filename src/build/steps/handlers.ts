/** The dispatch table: one handler per instruction kind, checked exhaustively by the compiler. */
import type { Instruction } from '../../dockerfile/instructions.js';
import { TsbuildError } from '../../errors.js';
import type { StepHandler, StepHandlers } from '../stepContext.js';
import { healthcheckStep, maintainerStep, onbuildStep, shellStep, stopsignalStep, volumeStep } from './configSteps.js';
import { copyStep } from './copyStep.js';
import { argStep, cmdStep, entrypointStep, envStep, exposeStep, labelStep, userStep } from './metadataSteps.js';
import { runStep } from './runStep.js';
import { workdirStep } from './workdirStep.js';

function notYet<I extends Instruction>(): StepHandler<I> {
  return {
    async execute(instr) {
      // The builder refuses these before the build starts (see unsupportedReason); reaching here is a bug.
      throw new TsbuildError('DOCKERFILE_UNSUPPORTED', `${instr.kind} is not supported yet`);
    },
  };
}

export const stepHandlers: StepHandlers = {
  FROM: notYet(),
  ARG: argStep,
  ENV: envStep,
  LABEL: labelStep,
  WORKDIR: workdirStep,
  USER: userStep,
  EXPOSE: exposeStep,
  CMD: cmdStep,
  ENTRYPOINT: entrypointStep,
  RUN: runStep,
  COPY: copyStep,
  ADD: copyStep,
  MAINTAINER: maintainerStep,
  VOLUME: volumeStep,
  STOPSIGNAL: stopsignalStep,
  SHELL: shellStep,
  HEALTHCHECK: healthcheckStep,
  ONBUILD: onbuildStep,
};

export function handlerFor<I extends Instruction>(instr: I): StepHandler<I> {
  return (stepHandlers as unknown as Record<string, StepHandler<I>>)[instr.kind] as StepHandler<I>;
}
