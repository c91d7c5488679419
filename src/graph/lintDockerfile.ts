/**
 * `tsbuild lint` / `build --check`: parses and resolves a Dockerfile and reports what BuildKit's
 * checks report, without building. Pure: text and options in, problems out.
 */
import { DockerfileError } from '../dockerfile/dockerfileError.js';
import { expandWord } from '../dockerfile/expand.js';
import type { DockerfileAst, Instruction, SourceRange } from '../dockerfile/instructions.js';
import { parseDockerfile } from '../dockerfile/parseDockerfile.js';
import { TsbuildError } from '../errors.js';
import { resolveBuildGraph } from './buildGraph.js';

export type LintLevel = 'error' | 'warning';

export interface LintProblem {
  /** BuildKit's rule name where it has one (JSONArgsRecommended…); parse and graph errors too. */
  rule: string;
  level: LintLevel;
  message: string;
  range?: SourceRange;
  /** The source line, for the CLI to quote. */
  line?: string;
}

export interface LintOptions {
  file?: string;
  target?: string;
  buildArgs: ReadonlyMap<string, string>;
  builtinArgs?: ReadonlyMap<string, string>;
  namedContexts?: ReadonlySet<string>;
}

export interface LintResult {
  problems: LintProblem[];
  /** `# check=error=true`: warnings fail the check (and the build) too. */
  warningsAreErrors: boolean;
  /** True when the Dockerfile should not build: an error, or a warning under error=true. */
  failed: boolean;
}

/** `# check=skip=A,B;error=true` (or the BUILDKIT_DOCKERFILE_CHECK build arg), as BuildKit reads it. */
export function parseCheckDirective(value: string): { skip: Set<string>; skipAll: boolean; error: boolean; invalid?: string } {
  const skip = new Set<string>();
  let skipAll = false;
  let error = false;
  for (const part of value.split(';')) {
    const trimmed = part.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    if (eq < 0) return { skip, skipAll, error, invalid: `invalid check option ${JSON.stringify(trimmed)}: expected key=value` };
    const key = trimmed.slice(0, eq).trim().toLowerCase();
    const val = trimmed.slice(eq + 1).trim();
    if (key === 'skip') {
      for (const rule of val.split(',').map((r) => r.trim()).filter(Boolean)) {
        if (rule.toLowerCase() === 'all') skipAll = true;
        else skip.add(rule);
      }
    } else if (key === 'error') {
      if (!/^(true|false|1|0)$/i.test(val)) return { skip, skipAll, error, invalid: `invalid check option error=${val}: expected true or false` };
      error = /^(true|1)$/i.test(val);
    } else if (key !== 'experimental') {
      return { skip, skipAll, error, invalid: `unknown check option ${JSON.stringify(key)}` };
    }
  }
  return { skip, skipAll, error };
}

export function lintDockerfile(text: string, opts: LintOptions): LintResult {
  let ast: DockerfileAst;
  try {
    ast = parseDockerfile(text, { file: opts.file ?? 'Dockerfile' });
  } catch (err) {
    return { problems: [fromError(err, 'ParseError')], warningsAreErrors: false, failed: true };
  }
  const warnings: LintProblem[] = [];
  const errors: LintProblem[] = [];
  const warn = (rule: string, message: string, instr?: Instruction) =>
    warnings.push({ rule, level: 'warning', message, ...(instr ? { range: instr.range, line: instr.original } : {}) });

  const directive = opts.buildArgs.get('BUILDKIT_DOCKERFILE_CHECK') ?? ast.directives['check'] ?? '';
  const check = parseCheckDirective(directive);
  if (check.invalid) errors.push({ rule: 'InvalidCheckDirective', level: 'error', message: check.invalid });

  for (const w of ast.warnings) warnings.push({ rule: w.rule ?? 'Warning', level: 'warning', message: w.message, range: w.range });

  const declaredGlobal = new Set([...(opts.builtinArgs?.keys() ?? []), ...ast.globalArgs.flatMap((a) => a.args.map((x) => x.name))]);
  const stageNames = ast.stages.map((s) => s.name);
  for (const stage of ast.stages) {
    const from = stage.from;
    for (const name of referencedVars([from.image, from.platform ?? ''], ast.escapeChar)) {
      if (!declaredGlobal.has(name)) warn('UndefinedArgInFrom', `FROM argument '${name}' is not declared`, from);
    }
    if (!/\$/.test(from.image)) {
      const image = from.image.toLowerCase();
      const later = stageNames.indexOf(image, stage.index + 1);
      if (later >= 0 && !stageNames.slice(0, stage.index).includes(image)) {
        // BuildKit would look for an image of that name, which is rarely what was meant.
        warn('UndefinedStage', `FROM ${from.image}: stage ${JSON.stringify(image)} is defined later (line ${ast.stages[later]?.from.range.start.line}), so this pulls an image of that name; a stage can only build on an earlier one`, from);
      }
    }
    const asMatch = /^\s*(\S+)\s.*\s(as)\s+\S+\s*$/i.exec(from.original);
    if (asMatch) {
      const [, keyword = '', as = ''] = asMatch;
      const upper = keyword === keyword.toUpperCase();
      if (upper !== (as === as.toUpperCase())) warn('FromAsCasing', `'${as}' and '${keyword}' keywords' casing do not match`, from);
    }
    const seen = new Map<string, number>();
    for (const instr of stage.instructions) {
      if (instr.kind === 'MAINTAINER') warn('MaintainerDeprecated', 'Maintainer instruction is deprecated in favor of using label', instr);
      if ((instr.kind === 'CMD' || instr.kind === 'ENTRYPOINT') && instr.command.form === 'shell') {
        warn('JSONArgsRecommended', `JSON arguments recommended for ${instr.kind} to prevent unintended behavior related to OS signals`, instr);
      }
      if (instr.kind === 'CMD' || instr.kind === 'ENTRYPOINT' || instr.kind === 'HEALTHCHECK') {
        seen.set(instr.kind, (seen.get(instr.kind) ?? 0) + 1);
        if (seen.get(instr.kind) === 2) warn('MultipleInstructionsDisallowed', `Multiple ${instr.kind} instructions should not be used in the same stage because only the last one will be used`, instr);
      }
    }
  }

  try {
    const graph = resolveBuildGraph(ast, {
      ...(opts.target !== undefined ? { target: opts.target } : {}),
      buildArgs: opts.buildArgs,
      ...(opts.builtinArgs ? { builtinArgs: opts.builtinArgs } : {}),
      ...(opts.namedContexts ? { namedContexts: opts.namedContexts } : {}),
    });
    for (const name of graph.unusedBuildArgs) warnings.push({ rule: 'UnusedBuildArg', level: 'warning', message: `build argument ${name} was given but no stage uses it` });
  } catch (err) {
    errors.push(fromError(err, 'StageGraph'));
  }

  const kept = check.skipAll ? [] : warnings.filter((w) => !check.skip.has(w.rule));
  const problems = [...errors, ...kept].sort((a, b) => (a.range?.start.line ?? 0) - (b.range?.start.line ?? 0));
  // An unused --build-arg is a build warning, not one of BuildKit's checks: error=true ignores it.
  const failing = kept.filter((w) => w.rule !== 'UnusedBuildArg');
  return { problems, warningsAreErrors: check.error, failed: errors.length > 0 || (check.error && failing.length > 0) };
}

/** Variable names a word refers to, found by expanding it with a recording lookup. */
function referencedVars(words: readonly string[], escapeChar: string): Set<string> {
  const names = new Set<string>();
  for (const word of words) {
    try {
      expandWord(word, (name) => {
        names.add(name);
        return undefined;
      }, { escapeChar });
    } catch {
      // `${X:?msg}` and malformed words throw here; resolving the graph reports them.
    }
  }
  return names;
}

function fromError(err: unknown, rule: string): LintProblem {
  if (err instanceof DockerfileError) {
    return { rule, level: 'error', message: err.detail + (err.hint ? ` (${err.hint})` : ''), range: err.range, ...(err.line !== undefined ? { line: err.line } : {}) };
  }
  if (err instanceof TsbuildError) return { rule, level: 'error', message: err.message + (err.hint ? ` (${err.hint})` : '') };
  throw err;
}
