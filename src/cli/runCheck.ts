/** The checks of `tsbuild lint` and `tsbuild build --check`: report problems, build nothing. */
import { resolve } from 'node:path';
import { readDockerfile } from '../context/readDockerfile.js';
import { lintDockerfile, type LintProblem } from '../graph/lintDockerfile.js';
import { platformArgs } from '../graph/platformArgs.js';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { parseKeyValues } from './parseKeyValues.js';

export interface CheckRequest {
  context: string;
  file: string | undefined;
  target: string | undefined;
  buildArgs: readonly string[];
  platform: string | undefined;
}

/** Runs the checks and prints them to `out`; resolves with the exit code (1 when the build would fail). */
export async function runCheck(req: CheckRequest, out: NodeJS.WritableStream): Promise<number> {
  const contextDir = resolve(req.context);
  const dockerfile = await readDockerfile(req.file, contextDir, () => process.stdin);
  const target = req.platform ? parsePlatform(req.platform) : hostPlatform();
  const result = lintDockerfile(dockerfile.text, {
    file: dockerfile.name,
    ...(req.target !== undefined ? { target: req.target } : {}),
    buildArgs: parseKeyValues(req.buildArgs, '--build-arg', true),
    builtinArgs: platformArgs(target, hostPlatform()),
  });
  for (const p of result.problems) out.write(formatProblem(p, dockerfile.name, result.warningsAreErrors));
  const errors = result.problems.filter((p) => p.level === 'error').length;
  const warnings = result.problems.length - errors;
  if (result.problems.length === 0) out.write('Check complete, no warnings found.\n');
  else out.write(`Check complete: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}${result.warningsAreErrors && warnings > 0 ? ' (check=error=true: warnings fail the build)' : ''}.\n`);
  return result.failed ? 1 : 0;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `Dockerfile:3:1: warning: JSONArgsRecommended: ...`, then the line, as compilers print them. */
function formatProblem(p: LintProblem, file: string, warningsAreErrors: boolean): string {
  const where = p.range ? `${file}:${p.range.start.line}:${p.range.start.column}: ` : '';
  const level = p.level === 'warning' && warningsAreErrors ? 'error' : p.level;
  let text = `${where}${level}: ${p.rule}: ${p.message}\n`;
  if (p.line && p.range) text += `  ${String(p.range.start.line).padStart(4)} | ${p.line.split('\n')[0]}\n`;
  return text;
}
