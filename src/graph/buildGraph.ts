import { TsbuildError } from '../errors.js';
import type { DockerfileAst, StageAst } from '../dockerfile/instructions.js';
import { buildStageGraph, stageError } from './buildStageGraph.js';
import { isProxyArg } from './platformArgs.js';
import { pruneToTarget, StageCycleError, topoOrder } from './topoOrder.js';

/** Where a stage's root filesystem, or a COPY --from source, comes from. */
export type StageSource =
  | { kind: 'scratch' }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; ref: string }
  | { kind: 'context'; name: string };

/** One COPY --from of a stage, resolved; the source fields are spread in for easy matching. */
export type CopyFromRef = StageSource & {
  /** The --from value as written (unexpanded), as it appears on the CopyInstruction. */
  from: string;
  /** Index into `ast.instructions` of the COPY. */
  instructionIndex: number;
};

export interface ResolvedStage {
  index: number;
  name?: string;
  /** FROM, expanded with the global ARGs. */
  base: StageSource;
  /** FROM --platform, expanded; absent when not given or empty. */
  platform?: string;
  /** Stage indexes this stage needs first (its FROM and its COPY --from), ascending. */
  deps: number[];
  /** Every COPY --from of the stage, resolved. */
  copyFrom: CopyFromRef[];
  /** COPY --from sources that are images, for the builder to pull (unique, in order). */
  copyFromImages: string[];
  /** COPY --from sources that are named build contexts (unique, in order). */
  copyFromContexts: string[];
  ast: StageAst;
}

export interface BuildGraph {
  /** Only the stages the target needs, in an order where every stage follows its deps. */
  stages: ResolvedStage[];
  target: ResolvedStage;
  /** --build-arg names no ARG in the used stages (or the global scope) declares. */
  unusedBuildArgs: string[];
  /** The global ARG values FROM lines were expanded with (build args applied). */
  globalArgs: ReadonlyMap<string, string>;
}

export interface ResolveOptions {
  /** `--target`; the last stage when absent. Case-insensitive like stage names. */
  target?: string;
  buildArgs: ReadonlyMap<string, string>;
  /** Names given with `--build-context NAME=…`. */
  namedContexts?: ReadonlySet<string>;
  /**
   * Automatic platform ARGs (BUILDPLATFORM, TARGETPLATFORM, TARGETOS, TARGETARCH, …) that
   * BuildKit makes available to FROM lines without a declaration.
   */
  builtinArgs?: ReadonlyMap<string, string>;
}

/** Build args BuildKit accepts without an ARG declaration (proxies, its own knobs). */
const ALWAYS_ALLOWED = new Set(['SOURCE_DATE_EPOCH']);

function findTarget(stages: readonly ResolvedStage[], target: string | undefined): ResolvedStage {
  if (target === undefined) return stages[stages.length - 1] as ResolvedStage;
  const wanted = target.toLowerCase();
  const found = stages.findLast((s) => s.name === wanted);
  if (found) return found;
  const names = [...new Set(stages.flatMap((s) => (s.name !== undefined ? [s.name] : [])))];
  throw new TsbuildError('DOCKERFILE_STAGE', `resolving target: target stage ${JSON.stringify(target)} could not be found`, {
    hint: names.length > 0 ? `stages in the Dockerfile: ${names.join(', ')}` : 'the Dockerfile has no named stages; name one with FROM <image> AS <name>',
  });
}

/**
 * The stages a build of `target` needs, in execution order, with every base and COPY --from
 * resolved. Pure: no fs, no network.
 */
export function resolveBuildGraph(ast: DockerfileAst, opts: ResolveOptions): BuildGraph {
  const { stages: all, globalArgs } = buildStageGraph(ast, opts);
  const target = findTarget(all, opts.target);
  let order: number[];
  try {
    order = topoOrder(all, pruneToTarget(all, target.index));
  } catch (err) {
    if (!(err instanceof StageCycleError)) throw err;
    // Point at the first COPY --from (or FROM) of a stuck stage that reaches another stuck stage.
    const stuck = new Set(err.stuck);
    const first = all[err.stuck[0] as number] as ResolvedStage;
    const copy = first.copyFrom.find((c) => c.kind === 'stage' && stuck.has(c.index));
    const at = copy ? (first.ast.instructions[copy.instructionIndex] ?? first.ast.from) : first.ast.from;
    throw stageError(at, ast.file, err.message, err.hint);
  }
  const stages = order.map((i) => all[i] as ResolvedStage);
  for (const s of stages) {
    if (s.base.kind === 'image' && s.base.ref === '') {
      throw stageError(s.ast.from, ast.file, `base name (${s.ast.from.image}) should not be blank`, 'set the ARG it uses, e.g. with --build-arg');
    }
  }

  const declared = new Set<string>();
  for (const g of ast.globalArgs) for (const a of g.args) declared.add(a.name);
  for (const s of stages) {
    for (const instr of s.ast.instructions) if (instr.kind === 'ARG') for (const a of instr.args) declared.add(a.name);
  }
  const unusedBuildArgs = [...opts.buildArgs.keys()].filter(
    (k) => !declared.has(k) && !ALWAYS_ALLOWED.has(k) && !isProxyArg(k) && !k.startsWith('BUILDKIT_'),
  );
  return { stages, target, unusedBuildArgs, globalArgs };
}
