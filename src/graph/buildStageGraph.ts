import { DockerfileError } from '../dockerfile/dockerfileError.js';
import { expandInstruction, expandWord, ExpansionError } from '../dockerfile/expand.js';
import type { DockerfileAst, Instruction } from '../dockerfile/instructions.js';
import type { CopyFromRef, ResolveOptions, ResolvedStage, StageSource } from './buildGraph.js';

/**
 * The values of the global ARGs (those before the first FROM), in order: a build arg overrides
 * the default, a default may use earlier global ARGs, a declaration without either keeps a
 * builtin value (TARGETPLATFORM…) or is set to "" as BuildKit does.
 */
export function globalArgValues(ast: DockerfileAst, opts: Pick<ResolveOptions, 'buildArgs' | 'builtinArgs'>): Map<string, string> {
  const env = new Map(opts.builtinArgs ?? []);
  for (const instr of ast.globalArgs) {
    const expanded = expandInstruction(instr, env, { escapeChar: ast.escapeChar, file: ast.file });
    for (const a of expanded.args) {
      const fromBuild = opts.buildArgs.get(a.name);
      env.set(a.name, fromBuild ?? a.defaultValue ?? env.get(a.name) ?? '');
    }
  }
  return env;
}

export function stageError(instr: Instruction, file: string, detail: string, hint?: string): DockerfileError {
  return new DockerfileError(detail, instr.range, {
    code: 'DOCKERFILE_STAGE',
    file,
    line: instr.original,
    ...(hint !== undefined ? { hint } : {}),
  });
}

/**
 * Every stage with its base and COPY --from sources resolved, in file order (not yet pruned or
 * ordered). Pure: names are only matched, never looked up anywhere.
 *
 * Resolution order for a name, as BuildKit: a stage (FROM: an earlier one only; COPY --from:
 * any, by name or numeric index), then a named build context, then an image reference.
 */
export function buildStageGraph(ast: DockerfileAst, opts: ResolveOptions): { stages: ResolvedStage[]; globalArgs: Map<string, string> } {
  const file = ast.file;
  const env = globalArgValues(ast, opts);
  const contexts = opts.namedContexts ?? new Set<string>();
  // With duplicate names (allowed, linted) the last stage wins for COPY --from and --target.
  const stageByName = new Map<string, number>();
  for (const s of ast.stages) if (s.name !== undefined) stageByName.set(s.name, s.index);
  const latestBefore = (name: string, before: number): number | undefined => {
    for (let i = before - 1; i >= 0; i--) if (ast.stages[i]?.name === name) return i;
    return undefined;
  };

  const stages = ast.stages.map((stage): ResolvedStage => {
    const from = expandInstruction(stage.from, env, { escapeChar: ast.escapeChar, file });
    // A blank base (an ARG left unset) stays `image ''` here: it only matters, and
    // resolveBuildGraph only rejects it, when the target needs the stage.
    let base: StageSource;
    const earlier = latestBefore(from.image.toLowerCase(), stage.index);
    if (earlier !== undefined) base = { kind: 'stage', index: earlier };
    else if (from.image === 'scratch') base = { kind: 'scratch' };
    else if (contexts.has(from.image)) base = { kind: 'context', name: from.image };
    else base = { kind: 'image', ref: from.image };

    const copyFrom: CopyFromRef[] = [];
    stage.instructions.forEach((instr, instructionIndex) => {
      // RUN --mount=from=… needs its source first, exactly like COPY --from.
      const froms = instr.kind === 'COPY' ? (instr.from === undefined ? [] : [instr.from]) : instr.kind === 'RUN' ? mountFroms(instr.flags.mounts) : [];
      for (const rawFrom of froms) {
      let name: string;
      try {
        // BuildKit expands --from with the global ARGs only, like FROM.
        name = expandWord(rawFrom, env, { escapeChar: ast.escapeChar });
      } catch (err) {
        if (err instanceof ExpansionError) throw stageError(instr, file, err.message, err.hint);
        throw err;
      }
      let source: StageSource;
      if (/^\d+$/.test(name)) {
        const index = Number.parseInt(name, 10);
        if (index >= ast.stages.length) {
          throw stageError(instr, file, `invalid stage index ${index}`, `stage indexes go from 0 to ${ast.stages.length - 1}`);
        }
        source = { kind: 'stage', index };
      } else if (stageByName.has(name.toLowerCase())) {
        source = { kind: 'stage', index: stageByName.get(name.toLowerCase()) as number };
      } else if (contexts.has(name)) {
        source = { kind: 'context', name };
      } else if (name === '') {
        throw stageError(instr, file, `${instr.kind === 'RUN' ? 'RUN --mount from' : 'COPY --from'} (${rawFrom}) should not be blank`);
      } else {
        source = { kind: 'image', ref: name };
      }
      if (source.kind === 'stage' && source.index === stage.index) {
        throw stageError(instr, file, `circular dependency detected on stage: ${stage.name ?? stage.index}`, 'a stage cannot COPY --from itself');
      }
      copyFrom.push({ ...source, from: rawFrom, instructionIndex });
      }
    });

    const deps = new Set<number>();
    if (base.kind === 'stage') deps.add(base.index);
    for (const c of copyFrom) if (c.kind === 'stage') deps.add(c.index);
    const unique = (xs: string[]): string[] => [...new Set(xs)];
    return {
      index: stage.index,
      ...(stage.name !== undefined ? { name: stage.name } : {}),
      base,
      ...(from.platform ? { platform: from.platform } : {}),
      deps: [...deps].sort((a, b) => a - b),
      copyFrom,
      copyFromImages: unique(copyFrom.flatMap((c) => (c.kind === 'image' ? [c.ref] : []))),
      copyFromContexts: unique(copyFrom.flatMap((c) => (c.kind === 'context' ? [c.name] : []))),
      ast: stage,
    };
  });
  return { stages, globalArgs: env };
}

/** The raw `from=` values of RUN --mount specs (CSV fields, as src/build/mounts/parseMount.ts reads them). */
function mountFroms(mounts: readonly string[]): string[] {
  const out: string[] = [];
  for (const spec of mounts) {
    for (const field of spec.split(',')) {
      const m = /^\s*from=(.*)$/i.exec(field.replace(/^"|"$/g, ''));
      if (m && m[1] !== undefined && m[1] !== '') out.push(m[1]);
    }
  }
  return out;
}
