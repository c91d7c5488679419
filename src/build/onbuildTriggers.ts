/**
 * ONBUILD triggers of a base image, typed as instructions so a child build can run them (in
 * order, before its own instructions) with the ordinary step handlers, as Docker does.
 */
import { DockerfileError } from '../dockerfile/dockerfileError.js';
import type { Instruction } from '../dockerfile/instructions.js';
import { parseDockerfile } from '../dockerfile/parseDockerfile.js';
import { TsbuildError } from '../errors.js';

export function onbuildTriggers(triggers: readonly string[] | null | undefined, baseName: string): Instruction[] {
  const out: Instruction[] = [];
  for (const trigger of triggers ?? []) {
    let instrs: Instruction[];
    try {
      const ast = parseDockerfile(`FROM scratch\n${trigger}\n`, { file: `ONBUILD trigger of ${baseName}` });
      if (ast.stages.length > 1) throw new TsbuildError('DOCKERFILE_SYNTAX', `FROM isn't allowed as an ONBUILD trigger (in ${baseName})`);
      instrs = ast.stages[0]?.instructions ?? [];
    } catch (err) {
      if (err instanceof TsbuildError && !(err instanceof DockerfileError)) throw err;
      const detail = err instanceof DockerfileError || err instanceof Error ? err.message : String(err);
      throw new TsbuildError('DOCKERFILE_SYNTAX', `the base image's ONBUILD trigger ${JSON.stringify(trigger)} is invalid: ${detail}`, { cause: err });
    }
    for (const instr of instrs) {
      // Docker refuses these as triggers; an image from another builder could still carry them.
      if (instr.kind === 'ONBUILD' || instr.kind === 'MAINTAINER') {
        throw new TsbuildError('DOCKERFILE_SYNTAX', `${instr.kind} isn't allowed as an ONBUILD trigger (in ${baseName})`);
      }
      out.push(instr);
    }
  }
  return out;
}
