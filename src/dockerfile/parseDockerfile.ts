import { DockerfileError } from './dockerfileError.js';
import type { ArgInstruction, DockerfileAst, DockerfileWarning, Instruction, StageAst } from './instructions.js';
import { scanDockerfile } from './scanDockerfile.js';
import { toInstruction } from './toInstruction.js';

export interface ParseOptions {
  /** The Dockerfile's name as the user gave it, used in error locations. */
  file?: string;
}

/**
 * Dockerfile text → typed instructions grouped into stages. Pure: no fs, no environment.
 * Follows BuildKit's parser and `instructions.Parse`: ARGs before the first FROM are global,
 * any other instruction there is an error, and stage names are case-insensitive.
 */
export function parseDockerfile(text: string, opts: ParseOptions = {}): DockerfileAst {
  const file = opts.file ?? 'Dockerfile';
  const scan = scanDockerfile(text, file);
  if (scan.nodes.length === 0) {
    const line = Math.max(1, scan.lineCount);
    throw new DockerfileError(
      'file with no instructions',
      { start: { line, column: 1 }, end: { line, column: 1 } },
      { file, hint: 'a Dockerfile needs at least a FROM instruction' },
    );
  }

  const globalArgs: ArgInstruction[] = [];
  const stages: StageAst[] = [];
  const warnings: DockerfileWarning[] = [];
  let current: StageAst | undefined;
  const firstRangeByName = new Map<string, Instruction['range']>();
  for (const node of scan.nodes) {
    const instr = toInstruction(node, file);
    if (instr.kind === 'FROM') {
      if (instr.stageName !== undefined) {
        const earlier = firstRangeByName.get(instr.stageName);
        // BuildKit only lints this (DuplicateStageName); lookups then find the last such stage.
        if (earlier) {
          warnings.push({
            rule: 'DuplicateStageName',
            range: instr.range,
            message: `duplicate stage name ${JSON.stringify(instr.stageName)} (first used at line ${earlier.start.line}); stage names should be unique`,
          });
        } else {
          firstRangeByName.set(instr.stageName, instr.range);
        }
      }
      current = {
        index: stages.length,
        ...(instr.stageName !== undefined ? { name: instr.stageName } : {}),
        from: instr,
        instructions: [],
      };
      stages.push(current);
      continue;
    }
    if (current) {
      current.instructions.push(instr);
      continue;
    }
    if (instr.kind === 'ARG') {
      globalArgs.push(instr);
      continue;
    }
    // BuildKit: "no build stage in current context".
    throw new DockerfileError(`no FROM instruction before ${instr.kind}`, instr.range, {
      file,
      line: instr.original,
      hint: 'only ARG may come before the first FROM; start the stage with FROM <image>',
    });
  }
  if (stages.length === 0) {
    const last = globalArgs[globalArgs.length - 1];
    throw new DockerfileError('no FROM instruction: the file has no stage to build', last?.range ?? {
      start: { line: 1, column: 1 },
      end: { line: 1, column: 1 },
    }, { file, hint: 'add FROM <image> (or FROM scratch) after the ARGs' });
  }
  return { file, escapeChar: scan.escapeChar, directives: scan.directives, globalArgs, stages, warnings };
}
